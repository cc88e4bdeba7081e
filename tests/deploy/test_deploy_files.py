"""deploy/ (operations.md §5, issue 18 item 7): the Dockerfile, compose.yaml and the systemd units.

No Docker engine runs here, so the files are parsed — the Dockerfile's instructions, compose's YAML, the units with
configparser — and the commands they name are run on this machine, against the local PostgreSQL and Redis, with
the environment they give: collectstatic as the image's build runs it, migrate, gunicorn with the conf it names,
the Celery worker and beat command lines, and every health check. The paths of a container or of /opt/catena
become this checkout's, and their ports ours; nothing else in the commands changes.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.multiprocess.stack import (
    beat_ready,
    http,
    process_env,
    server_port,
    start,
    stop_all,
    web_ready,
    worker_ready,
)
from tests.worker import ROOT, missing_prerequisite, skip_or_fail, worker_database_url

DEPLOY = ROOT / "deploy"
UNITS = ("catena-migrate", "catena-web", "catena-worker", "catena-beat")
BIN = Path(sys.executable).parent  # the virtualenv's gunicorn, celery and python
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?([-?])([^}]*))?\}")


# --- Reading the files -----------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, ``(INSTRUCTION, arguments)``, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            keyword, _, arguments = current.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(arguments.split())))
            current = ""
    return instructions


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


def docker_env() -> dict[str, str]:
    """What the Dockerfile's ENV instructions set (``KEY=value …`` form)."""
    env = {}
    for keyword, arguments in dockerfile():
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(arguments))
    return env


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's variable substitution: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        if kind == "?":
            raise KeyError(f"{name}: {rest}")
        return rest or ""
    return _VARIABLE.sub(one, value)


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string((DEPLOY / "systemd" / f"{name}.service").read_text())
    return parser


def env_example() -> dict[str, str]:
    lines = (DEPLOY / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


# --- What the files say ----------------------------------------------------------------------------------------


def test_the_image_is_python_3_12_slim_runs_as_a_user_and_collects_static_files_at_build():
    instructions = dockerfile()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.12-slim")
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert keywords.index("USER") < keywords.index("CMD")  # the processes, not the build, run as that user
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    collect = [i for i, keyword in enumerate(keywords)
               if keyword == "RUN" and "manage.py collectstatic --noinput" in instructions[i][1]]
    assert collect and collect[0] < keywords.index("USER")
    assert any("pip install -e ." in run for run in runs)
    assert docker_env()["DJANGO_SETTINGS_MODULE"] == "catena_site.settings"
    command = exec_form(dict(instructions)["CMD"])
    assert command[:4] == ["gunicorn", "-c", "python:catena_site.gunicorn_conf", "catena_site.wsgi"]
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)


def test_compose_runs_web_worker_and_one_beat_beside_postgresql_and_redis_all_with_health_checks():
    services = compose()["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    for name in ("web", "worker", "beat", "migrate"):
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert {"postgres", "redis"} <= set(services[name]["depends_on"])
        assert all(d.get("condition") in ("service_healthy", "service_completed_successfully")
                   for d in services[name]["depends_on"].values())
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["beat"]["command"][:4] == ["celery", "-A", "catena_site", "beat"]
    assert "deploy" not in services["beat"]  # never replicated
    assert services["web"]["command"][:4] == ["gunicorn", "-c", "python:catena_site.gunicorn_conf",
                                              "catena_site.wsgi"]
    assert services["postgres"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")
    # Every variable compose insists on is in the example settings.
    required = set(re.findall(r"\$\{(\w+):\?", (DEPLOY / "compose.yaml").read_text()))
    assert required and required <= set(env_example())


def test_the_systemd_units_run_as_catena_from_the_checkout_with_its_settings():
    for name in UNITS:
        parsed = unit(name)
        assert set(parsed.sections()) == {"Unit", "Service", "Install"}, name
        service = parsed["Service"]
        assert service["User"] == "catena" and service["WorkingDirectory"] == "/opt/catena"
        assert service["EnvironmentFile"] == "/etc/catena/catena.env"
        assert service["ExecStart"].startswith("/opt/catena/.venv/bin/")
    assert unit("catena-migrate")["Service"]["Type"] == "oneshot"
    assert "catena-migrate.service" in unit("catena-web")["Unit"]["After"]


# --- Running what they name ------------------------------------------------------------------------------------


@pytest.fixture
def services_up(transactional_db):
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)


def local(env: dict[str, str], var_dir: Path) -> dict[str, str]:
    """An environment of the files made local: this test's database and Redis, a var dir of its own."""
    merged = process_env(worker_database_url(), var_dir)
    merged.update({key: value for key, value in env.items() if key not in ("DATABASE_URL", "REDIS_URL")})
    merged.update(DATABASE_URL=worker_database_url(), REDIS_URL=os.environ["REDIS_URL"], CATENA_VAR_DIR=str(var_dir),
                  STATIC_ROOT=str(var_dir / "static"))
    return merged


def here(argv: list[str], port: int) -> list[str]:
    """A command of the files as it runs here: the virtualenv's programs, our port instead of 8000."""
    program = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
    if argv[0] in ("python", "python3"):
        program = sys.executable
    return [program] + [re.sub(r"^(0\.0\.0\.0|127\.0\.0\.1):8000$", f"127.0.0.1:{port}", arg) for arg in argv[1:]]


def health_check(test: list[str], env: dict[str, str], port: int) -> subprocess.CompletedProcess:
    """Run a compose health check here (its ``$$`` already read as ``$``, its port ours)."""
    kind, *argv = test
    argv = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("$$", "$") for arg in argv]
    if kind == "CMD-SHELL":
        return subprocess.run(["sh", "-c", argv[0]], cwd=ROOT, env={**env, "PATH": f"{BIN}:{env['PATH']}"},
                              capture_output=True, text=True, timeout=60)
    return subprocess.run(here(argv, port), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{argv} exited with {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def test_the_build_step_collects_compressed_static_files(tmp_path):
    env = {**process_env("sqlite:///" + str(tmp_path / "unused.sqlite3"), tmp_path / "var"),
           **{key: value for key, value in docker_env().items() if key not in ("CATENA_VAR_DIR", "STATIC_ROOT")},
           "STATIC_ROOT": str(tmp_path / "static")}
    env.pop("SECRET_KEY", None)
    env.pop("DEBUG", None)
    (step,) = [arguments for keyword, arguments in dockerfile() if keyword == "RUN" and "collectstatic" in arguments]
    run(["sh", "-c", step.replace("python ", f"{sys.executable} ", 1)], env)
    assert (tmp_path / "static" / "css" / "catena.css").exists()
    assert (tmp_path / "static" / "css" / "catena.css.gz").exists()  # WhiteNoise's compressed copy (DEBUG=false)


@pytest.mark.celery_worker
def test_compose_commands_and_health_checks_answer_against_the_local_services(services_up, tmp_path):
    services = compose()["services"]
    variables = {"SECRET_KEY": uuid.uuid4().hex * 2, "POSTGRES_PASSWORD": "unused-here"}
    base = {key: interpolate(str(value), variables) for key, value in services["web"]["environment"].items()}
    assert urlsplit(base["DATABASE_URL"]).hostname == "postgres" and urlsplit(base["REDIS_URL"]).hostname == "redis"
    env = local({**docker_env(), **base}, tmp_path / "var")
    port = server_port(10)

    assert "No migrations to apply" in run(here(services["migrate"]["command"], port), env).stdout
    processes = {}
    try:
        processes["worker"] = start(here(services["worker"]["command"], port), env)
        processes["beat"] = start(here(services["beat"]["command"], port), env)
        processes["web"] = start(here(services["web"]["command"], port), env)
        worker_ready(processes["worker"])
        beat_ready(processes["beat"])
        web_ready(processes["web"], f"http://127.0.0.1:{port}")

        shell_env = {**env, "HOSTNAME": socket.gethostname()}  # a container's host name is its worker's node name
        for name in ("worker", "beat", "web", "postgres", "redis"):
            checked = health_check(services[name]["healthcheck"]["test"],
                                   {**shell_env, "PGHOST": "127.0.0.1"} if name == "postgres" else shell_env, port)
            assert checked.returncode == 0, f"{name}'s health check failed:\n{checked.stdout}\n{checked.stderr}"
        assert http("GET", f"http://127.0.0.1:{port}/healthz", headers={"Host": "localhost"})[0] == 200
    finally:
        stop_all(processes.values())
    # The checks can fail: no web process answers now, and a beat that never ran has no heartbeat.
    assert health_check(services["web"]["healthcheck"]["test"], env, port).returncode != 0
    empty = {key: value for key, value in env.items() if key != "REDIS_URL"} | {"CATENA_VAR_DIR": str(tmp_path / "e")}
    assert health_check(services["beat"]["healthcheck"]["test"], empty, port).returncode != 0


@pytest.mark.celery_worker
def test_the_systemd_units_commands_start_and_answer(services_up, tmp_path):
    port = server_port(11)
    settings = local(env_example(), tmp_path / "var")

    def command(name: str) -> tuple[list[str], dict[str, str]]:
        service = unit(name)["Service"]
        argv = shlex.split(service["ExecStart"].replace("/opt/catena/.venv/bin/", f"{BIN}/"))
        assert service["WorkingDirectory"] == "/opt/catena"
        extra = dict(item.split("=", 1) for item in shlex.split(service.get("Environment", "")))
        assert extra.get("CATENA_VAR_DIR") == "/var/lib/catena"  # StateDirectory=catena
        return here(argv, port), settings

    release = unit("catena-migrate")["Service"]
    assert release["ExecStartPre"].endswith("manage.py collectstatic --noinput")
    argv, env = command("catena-migrate")
    run(here(shlex.split(release["ExecStartPre"].replace("/opt/catena/.venv/bin/", f"{BIN}/")), port), env)
    assert (Path(env["STATIC_ROOT"]) / "css" / "catena.css.gz").exists()
    assert "No migrations to apply" in run(argv, env).stdout
    processes = {}
    try:
        for name in ("catena-worker", "catena-beat", "catena-web"):
            processes[name] = start(*command(name))
        worker_ready(processes["catena-worker"])
        beat_ready(processes["catena-beat"])
        web_ready(processes["catena-web"], f"http://127.0.0.1:{port}")
        host = settings["ALLOWED_HOSTS"].split(",")[0]
        status, body = http("GET", f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
        assert status == 200, body
        assert json.loads(body)["checks"] == {"database": "ok", "broker": "ok", "worker": "ok"}
        assert http("GET", f"http://127.0.0.1:{port}/healthz", headers={"Host": "evil.example.net"})[0] == 400
    finally:
        stop_all(processes.values())
