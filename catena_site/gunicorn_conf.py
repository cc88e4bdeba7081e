"""gunicorn's hooks for Catena: ``gunicorn -c python:catena_site.gunicorn_conf catena_site.wsgi`` (bind, workers and
the rest on the command line or in ``GUNICORN_CMD_ARGS``).

- On start, the metrics directory (``PROMETHEUS_MULTIPROC_DIR``) loses the files of processes that ended, so the
  counters of a previous run are not added to this one's; the files of running processes (a Celery worker on the
  same host) stay.
- A worker that exits is marked dead for prometheus_client (its live gauges leave the sums).
- With ``LOG_FORMAT=json`` gunicorn's own lines (start, worker boots and timeouts) are JSON too.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catena_site.settings")

from django.conf import settings  # noqa: E402

if settings.LOG_FORMAT == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "catena_site.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": settings.LOG_LEVEL},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def on_starting(server) -> None:
    from catena_site import prometheus

    deleted = prometheus.clean_directory(settings.PROMETHEUS_MULTIPROC_DIR)
    server.log.info("metrics: %d files of ended processes removed from %s", deleted, settings.PROMETHEUS_MULTIPROC_DIR)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
