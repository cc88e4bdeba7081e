"""Django settings for Catena.

Everything an operator may change comes from the environment (or a ``.env`` file beside ``manage.py``).
With no environment at all Catena runs on embedded defaults: a SQLite file and a server-less Celery broker
under ``var/``. With ``DATABASE_URL`` and ``REDIS_URL`` the same code runs on PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CATENA_VAR_DIR", default=str(BASE_DIR / "var")))
# In every configuration: beat keeps its schedule file here even with Redis, and dies at start without it.
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
DEVELOPMENT_SECRET_KEY = "insecure-development-key-change-me-in-production-0123456789"
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if DEBUG else ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "catena_site",
    "monitoring",
    "portals",
    "content",
    "subscribers",
]

MIDDLEWARE = [
    # First: the request ID (X-Request-ID) and the request's log line, then its metrics, around everything else.
    "catena_site.logs.RequestContextMiddleware",
    "catena_site.prometheus.HttpMetricsMiddleware",
    # The streaming server's auth check (the hot path) is answered here, without the middleware below: it does
    # what they would do for it (monitoring/streaming/dispatch.py), and passes on anything it cannot answer alike.
    "monitoring.streaming.dispatch.StreamingAuthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "catena_site.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the cookie or Accept-Language; ScreenLocaleMiddleware then prefers the manager's choice.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portals.web_auth.ManagerSessionMiddleware",
    "portals.web_auth.ScreenLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Live blocks: ``request.htmx`` tells a block refresh (HX-Request) from a page load.
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "catena_site.urls"
WSGI_APPLICATION = "catena_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portals.web_auth.caller_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'catena.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web, worker and beat processes read while one of them writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 20,
         "transaction_mode": "IMMEDIATE"}
    )
elif env.bool("DATABASE_POOL", default=False):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    # Redelivery of a message whose worker vanished: longer than any task's time limit (see "Celery task
    # options" below), or a task still running would be delivered a second time.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
else:
    # Shared by every process on this machine (web, worker, beat), unlike per-process memory.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    # The embedded broker: files under var/broker/, written then renamed into place (catena_site/broker.py says
    # why kombu's own "filesystem://" is not safe). CATENA_STOCK_BROKER=1 selects kombu's transport on the same
    # folders, polling as often as it must to keep up — only to show the failure the stress test guards against
    # (tests/integration/test_broker_stress.py); never in production.
    import catena_site.broker  # noqa: F401  (registers the "catena-filesystem" transport with kombu)

    _stock_broker = env.bool("CATENA_STOCK_BROKER", default=False)
    CELERY_BROKER_URL = "filesystem://" if _stock_broker else "catena-filesystem://"
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "rejected_folder": str(_broker_dir / "rejected"),
        "store_processed": False,
        # Seconds. Ours: the longest sleep between empty polls (5 ms after a delivery, doubling). kombu's: every
        # sleep (default 1 s, which caps a worker near 6 jobs/s).
        "polling_interval": 0.01 if _stock_broker else 0.2,
    }
    for _folder in ("queue", "processed", "control"):  # kombu expects them to exist
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Celery task options ----------------------------------------------------------------------------------
# Every task is acknowledged after it ran and handed back to the queue when its worker process dies, so each
# must be safe to run twice (tests/unit/test_task_options.py lists why each one is). The hard time limit
# (prefork pool only) stays below the Redis visibility timeout; tasks that need longer set their own.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)  # seconds

# --- Auth -------------------------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "portals.validators.PasswordStrengthValidator"},
]
MANAGER_SESSION_TTL = env.int("MANAGER_SESSION_TTL", default=12 * 3600)  # seconds of inactivity
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)  # per (email, client IP) pair
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=15 * 60)  # seconds
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=50)  # across emails: password spraying
LOGIN_FAILURES_PER_EMAIL = env.int("LOGIN_FAILURES_PER_EMAIL", default=50)  # across IPs: then new IPs only
LOGIN_URL = "web:login"
# Password reset by email (portals.password_reset): links valid this many seconds, requests per hour.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
PASSWORD_RESET_PER_EMAIL = env.int("PASSWORD_RESET_PER_EMAIL", default=5)
PASSWORD_RESET_PER_IP = env.int("PASSWORD_RESET_PER_IP", default=20)
# Where managers reach the screens (https://tv.example.com), for the links in emails; empty: the host the request
# came to (ALLOWED_HOSTS keeps a forged Host header out when DEBUG=false).
SITE_URL = env.str("SITE_URL", default="").rstrip("/")

# --- Email ------------------------------------------------------------------------------------------------
# EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 (django-environ: smtp, smtps, smtp+tls, smtp+ssl,
# consolemail, filemail, memorymail, dummymail). Without it: written to the console log while DEBUG is on (the
# development default), else not sent at all — a password-reset link in a production log would let anyone who
# reads the log take the account over — and each unsent email is logged as an error, without its content.
vars().update(env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "dummymail://"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # seconds per SMTP operation: a stuck server frees the worker
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Catena <catena@localhost>")

# --- HTTP security --------------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = MANAGER_SESSION_TTL
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

# --- Security: client address, production refusals, HTTPS, Content-Security-Policy (README "Security") ---
# The reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs) and how many of them stand in
# front of Catena; empty: the header is never read (catena_site.http.client_ip).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
if env.bool("USE_X_FORWARDED_FOR", default=False) and not TRUSTED_PROXIES:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "USE_X_FORWARDED_FOR is replaced by TRUSTED_PROXIES: set TRUSTED_PROXIES to the addresses or CIDRs of "
        "your reverse proxies (e.g. TRUSTED_PROXIES=10.0.0.0/8) and remove USE_X_FORWARDED_FOR."
    )
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY is the insecure development key while DEBUG=false: set SECRET_KEY to a long random value "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))') or run with DEBUG=true."
    )
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Probes, Prometheus and the streaming server call over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$", r"^streaming/"]

# --- I18N, static ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# The screens' languages (README "Languages and time zone"); the API and its error messages stay English.
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- API ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["portals.api.authentication.XAuthTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["catena_site.api.permissions.IsPortalMember"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["catena_site.api.parsers.JSONParser"],  # depth limit, no NUL or lone surrogate
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "catena_site.api.pagination.KeysetPagination",
    "DEFAULT_SCHEMA_CLASS": "catena_site.api.schema.CatenaAutoSchema",  # documents the error statuses too
    "EXCEPTION_HANDLER": "catena_site.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Catena Management API",
    "DESCRIPTION": "Manage portals, managers, channels, packages, EPG, subscribers and play sessions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "APPEND_COMPONENTS": {
        "securitySchemes": {"XAuthToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}}
    },
    "SECURITY": [{"XAuthToken": []}],
    # Request bodies as components of their own: a field that must not be blank is documented with
    # ``minLength: 1`` there (and read-only fields are left out), so the document says what is enforced.
    "COMPONENT_SPLIT_REQUEST": True,
    # Plain Django views, which drf-spectacular cannot see, documented by hooks: the Xtream Codes API (players.md
    # §3) and IPTVPORTAL's /api/jsonrpc/ and /api/jsonsql/ (lifecycle.md §4).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "monitoring.xtream.schema.add_xtream_paths",
                             "subscribers.jsonsql.schema.add_jsonsql_paths"],
}

# --- Logging --------------------------------------------------------------------------------------------
# LOG_FORMAT=json: one JSON object per line, for web, worker and beat alike (catena_site.logs); text: readable lines.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text").lower()
if LOG_FORMAT not in ("text", "json"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")
# One line per request (logger catena.request: method, path without its query, status, duration); on by default
# with JSON logs, where it replaces the development server's request lines.
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=LOG_FORMAT == "json")
_console_formatter = "json" if LOG_FORMAT == "json" else "plain"
LOGGING_CONFIG = "catena_site.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"hide_query_secrets": {"()": "catena_site.log_filters.HideQuerySecrets"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "catena_site.logs.JsonFormatter"},
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    "handlers": {
        # Every line without the secrets request lines carry (Django's "Not Found: /live/<login>/<password>/…" too)
        "console": {"class": "logging.StreamHandler", "formatter": _console_formatter,
                    "filters": ["hide_query_secrets"]},
        # runserver's request lines, as Django logs them, without the streamer key or playback tokens they carry
        "django.server": {"class": "logging.StreamHandler",
                          "formatter": "json" if LOG_FORMAT == "json" else "django.server",
                          "filters": ["hide_query_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # With catena.request's lines, runserver's own would say the same twice: only its warnings and errors.
        "django.server": {"handlers": ["django.server"], "level": "WARNING" if LOG_REQUESTS else "INFO",
                          "propagate": False},
    },
}

# --- Metrics (operations.md §1; README "Metrics") ------------------------------------------------------------
# GET /metrics answers a request with "Authorization: Bearer <METRICS_TOKEN>" or from an address in
# METRICS_ALLOWED_IPS (addresses or CIDRs); with neither set, metrics are off: 404, and nothing is counted.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# Every process of this host writes its values here and a scrape adds them up (prometheus_client's multiprocess
# mode, which reads the variable when imported: so it is set here, before any import of it).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Seconds the database figures of a scrape (sessions, subscribers, programmes) are reused by the next scrapes.
METRICS_DATABASE_CACHE = env.int("METRICS_DATABASE_CACHE", default=15)

# --- Streaming server (Flussonic) and play sessions (streaming.md) ------------------------------------------
STREAMER_KEY = env.str("STREAMER_KEY", default="")  # ?key= of the auth and events URLs; empty refuses all
STREAMER_ALLOWED_IPS = env.list("STREAMER_ALLOWED_IPS", default=[])  # addresses or CIDRs; empty: any
STREAMER_AUTH_DURATION = env.int("STREAMER_AUTH_DURATION", default=120)  # X-AuthDuration, seconds
STREAMER_API_URL = env.str("STREAMER_API_URL", default="")  # e.g. http://flussonic:80/streamer/api/v3
STREAMER_API_USER = env.str("STREAMER_API_USER", default="")
STREAMER_API_PASSWORD = env.str("STREAMER_API_PASSWORD", default="")
STREAMER_API_TOKEN = env.str("STREAMER_API_TOKEN", default="")  # Bearer token, instead of user/password
STREAMER_API_TIMEOUT = env.float("STREAMER_API_TIMEOUT", default=5.0)
STREAMER_CACHE_ALIAS = env.str("STREAMER_CACHE_ALIAS", default="default")
# Lifetime of a cached decision. Invalidation is exact; this only bounds staleness if the cache was down
# while an access change committed (its invalidation could not be delivered).
STREAMER_CACHE_TTL = env.int("STREAMER_CACHE_TTL", default=3600)
SESSION_STALE_SECONDS = env.int("SESSION_STALE_SECONDS", default=600)
# History retention (operations.md §5): older play sessions and operations are dropped, a whole month at a time on
# PostgreSQL (monitoring/partitions.py), by beat's daily job. Unset (the default for operations): kept forever.
PLAY_SESSION_RETENTION_DAYS = env.int("PLAY_SESSION_RETENTION_DAYS", default=400)
OPERATION_RETENTION_DAYS = env.int("OPERATION_RETENTION_DAYS", default=None)
# With Redis: session starts of portals without a session limit are buffered and written every few seconds.
STREAMER_BUFFER_SESSIONS = env.bool("STREAMER_BUFFER_SESSIONS", default=True)
# With Redis: each web process is told of every invalidation by a push (Redis's CLIENT TRACKING), so a warm auth check
# whose facts this process already holds sends its heartbeat without waiting for Redis (subscribers/playback_cache.py).
# "local": only when Redis is on this host (loopback or a unix socket: the push is delivered in the same pass as the
# invalidation's answer); "on": also over a network; "off": every check waits for Redis's answer.
STREAMER_PUSH_INVALIDATION = env.str("STREAMER_PUSH_INVALIDATION", default="local")
if STREAMER_PUSH_INVALIDATION not in ("local", "on", "off"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"STREAMER_PUSH_INVALIDATION must be local, on or off, not {STREAMER_PUSH_INVALIDATION!r}")
# With Redis: event batches are acknowledged once buffered and applied in bulk by a worker within seconds.
STREAMER_BUFFER_EVENTS = env.bool("STREAMER_BUFFER_EVENTS", default=True)
TOKEN_SHARING_IPS = env.int("TOKEN_SHARING_IPS", default=3)
TOKEN_SHARING_WINDOW = env.int("TOKEN_SHARING_WINDOW", default=3600)  # seconds
if CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
    # One entry per active token and per active session: the default of 300 entries would thrash.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)

# --- EPG ------------------------------------------------------------------------------------------------
EPG_MAX_BYTES = env.int("EPG_MAX_BYTES", default=1024 ** 3)  # per guide, counted after decompression
EPG_FETCH_TIMEOUT = env.float("EPG_FETCH_TIMEOUT", default=600.0)  # seconds for download + import
EPG_ALLOW_PRIVATE_URLS = env.bool("EPG_ALLOW_PRIVATE_URLS", default=False)
EPG_RETENTION_DAYS = env.int("EPG_RETENTION_DAYS", default=14)  # programmes that ended earlier are deleted
EPG_RETRY_BACKOFF = env.int("EPG_RETRY_BACKOFF", default=300)  # seconds after a first failure, doubling per failure
EPG_MAX_CHANNELS = env.int("EPG_MAX_CHANNELS", default=20_000)  # per guide; programmes of further channels are skipped
EPG_FETCH_LEASE = env.float("EPG_FETCH_LEASE", default=60.0)  # seconds without a sign of life before a running
# fetch's worker is taken for dead (the lease is renewed every third of it) and the fetch is given up

# --- Webhooks (operations.md §3) -------------------------------------------------------------------------------
# Their URLs are vetted like EPG URLs: EPG_ALLOW_PRIVATE_URLS=true lets them reach private addresses too.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)  # seconds for one POST (connect to answer)
WEBHOOK_LEASE = env.float("WEBHOOK_LEASE", default=60.0)  # seconds a sender holds a webhook; a delivery still
# "sending" after it (its worker died) is sent again

# --- Subscriber apps (client API) -----------------------------------------------------------------------
SMS_BACKEND = env.str("SMS_BACKEND", default="console")  # console | file | http | dotted.path.Backend
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms.jsonl"))
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_AUTH_HEADER = env.str("SMS_HTTP_AUTH_HEADER", default="")  # e.g. "Authorization: Bearer abc"
SMS_HTTP_TIMEOUT = env.float("SMS_HTTP_TIMEOUT", default=10.0)
SMS_CODE_TTL = env.int("SMS_CODE_TTL", default=300)  # seconds
APP_SESSION_TTL = env.int("APP_SESSION_TTL", default=90 * 24 * 3600)  # seconds
STREAM_BASE_URL = env.str("STREAM_BASE_URL", default="http://127.0.0.1:8080")

# --- Access changes whose cache invalidation failed (catena_site.access_events) ------------------------------
# They are kept as pending rows and retried by the worker's beat job every 5 s and by the writing process's next
# request, at most once per this many seconds while the cache stays unreachable.
ACCESS_RETRY_SECONDS = env.float("ACCESS_RETRY_SECONDS", default=2.0)
