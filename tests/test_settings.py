"""Which settings each runtime environment gets, imported as a server would.

Each test imports a copy of the settings package in a fresh interpreter, so
files such as environment.py and local.py can be added without touching the
project, and a developer's own local.py never leaks in.
"""

import json
import shutil
import subprocess
import sys

import pytest
from django.conf import settings as project_settings

from .helpers import PROJECT_ROOT, clean_environ, deployment_environ

PACKAGE = project_settings.SETTINGS_MODULE.split(".")[0]

REPORT = """
import json, logging.config
from PACKAGE import settings as s
logging.config.dictConfig(s.LOGGING)
logging.getLogger("probe").warning("hello %s", "world")
print(json.dumps(dict(
    ENVIRONMENT=s.ENVIRONMENT,
    DEBUG=s.DEBUG,
    ENGINE=s.DATABASES["default"]["ENGINE"],
    CACHE=s.CACHES["default"]["BACKEND"],
    TIME_ZONE=s.TIME_ZONE,
    APPS=s.INSTALLED_APPS,
    ROOT_LEVEL=s.LOGGING["root"]["level"],
    BROKER=s.CELERY_BROKER_URL,
    EAGER=s.CELERY_TASK_ALWAYS_EAGER,
    REDELIVERED=[s.CELERY_TASK_ACKS_LATE, s.CELERY_TASK_REJECT_ON_WORKER_LOST],
    HEALTH={name: spec["required"] for name, spec in s.HEALTH_CHECKS.items()},
    HTTPS=[getattr(s, name, None) for name in (
        "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"
    )],
    HSTS=[getattr(s, name, None) for name in (
        "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"
    )],
)))
"""


def load(tmp_path, files=None, **environ):
    package = tmp_path / PACKAGE
    shutil.copytree(
        PROJECT_ROOT / PACKAGE / "settings",
        package / "settings",
        ignore=shutil.ignore_patterns("local.py", "environment.py", "__pycache__"),
    )
    (package / "__init__.py").touch()
    for name, text in (files or {}).items():
        (package / "settings" / name).write_text(text)
    return subprocess.run(
        [sys.executable, "-c", REPORT.replace("PACKAGE", PACKAGE)],
        cwd=tmp_path,  # "python -c" puts the working folder first on sys.path
        env=clean_environ(PYTHONPATH=str(tmp_path), **environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(tmp_path, files=None, **environ):
    result = load(tmp_path, files, **environ)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_development_is_the_default_and_needs_no_server(tmp_path):
    chosen, log = loaded(tmp_path)
    assert chosen["ENVIRONMENT"] == "development"
    assert chosen["DEBUG"] is True
    assert chosen["ENGINE"] == "django.db.backends.sqlite3"
    assert chosen["CACHE"] == "django.core.cache.backends.locmem.LocMemCache"
    assert "debug_toolbar" in chosen["APPS"]
    assert "django_extensions" in chosen["APPS"]
    assert chosen["EAGER"] is True
    # Plain text logs for people.
    assert "WARNING  probe: hello world" in log


def test_service_urls_switch_development_to_real_services(tmp_path):
    chosen, _ = loaded(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/app",
        REDIS_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//",
    )
    assert chosen["ENGINE"] == "django.db.backends.postgresql"
    assert chosen["CACHE"] == "django.core.cache.backends.redis.RedisCache"
    assert chosen["BROKER"] == "amqp://guest:guest@127.0.0.1:5672//"
    assert chosen["EAGER"] is False


def test_deployment_uses_the_real_services_and_logs_json(tmp_path):
    chosen, log = loaded(tmp_path, **deployment_environ())
    assert chosen["ENVIRONMENT"] == "deployment"
    assert chosen["DEBUG"] is False
    assert chosen["ENGINE"] == "django.db.backends.postgresql"
    assert chosen["CACHE"] == "django.core.cache.backends.redis.RedisCache"
    assert "debug_toolbar" not in chosen["APPS"]
    assert "django_extensions" not in chosen["APPS"]
    assert chosen["EAGER"] is False
    # A task whose worker dies mid-run goes back to the queue.
    assert chosen["REDELIVERED"] == [True, True]
    assert chosen["HEALTH"] == {"database": True, "cache": True, "broker": True, "search": False}
    record = json.loads(log.strip().splitlines()[-1])
    assert record["message"] == "hello world"
    assert record["level"] == "WARNING"
    assert record["logger"] == "probe"
    assert "time" in record


def test_a_server_with_backups_reports_them_in_health_without_requiring_them(tmp_path):
    environ = deployment_environ(DJANGO_BACKUP_STATUS_DIR="/var/lib/shop-backup/status")
    chosen, _ = loaded(tmp_path, **environ)
    assert chosen["HEALTH"] == {
        "database": True,
        "cache": True,
        "broker": True,
        "search": False,
        "backup_database": False,
        "backup_media": False,
        "wal_archive": False,
    }


def test_deployment_without_its_variables_names_each_missing_one(tmp_path):
    result = load(tmp_path, DJANGO_ENV="deployment")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    names = (
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
    )
    for name in names:
        assert name in result.stderr


def test_deployment_names_only_what_is_missing(tmp_path):
    environ = deployment_environ()
    del environ["DATABASE_URL"]
    result = load(tmp_path, **environ)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "DATABASE_URL" in message
    assert "DJANGO_SECRET_KEY" not in message


def test_staging_is_deployment_with_more_detailed_logs(tmp_path):
    chosen, _ = loaded(tmp_path, **deployment_environ(DJANGO_ENV="staging"))
    assert chosen["ENVIRONMENT"] == "staging"
    assert chosen["DEBUG"] is False
    assert chosen["ENGINE"] == "django.db.backends.postgresql"
    assert chosen["ROOT_LEVEL"] == "DEBUG"


def test_staging_requires_the_same_variables(tmp_path):
    result = load(tmp_path, DJANGO_ENV="staging")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_environment_file_selects_the_environment(tmp_path):
    environ = deployment_environ()
    del environ["DJANGO_ENV"]
    files = {"environment.py": 'ENVIRONMENT = "staging"\n'}
    chosen, _ = loaded(tmp_path, files, **environ)
    assert chosen["ENVIRONMENT"] == "staging"


def test_django_env_and_the_environment_file_must_agree(tmp_path):
    (tmp_path / "other").mkdir()
    files = {"environment.py": 'ENVIRONMENT = "staging"\n'}
    chosen, _ = loaded(tmp_path, files, **deployment_environ(DJANGO_ENV="staging"))
    assert chosen["ENVIRONMENT"] == "staging"
    refused = load(tmp_path / "other", files, **deployment_environ(DJANGO_ENV="deployment"))
    assert refused.returncode != 0
    assert "DJANGO_ENV is 'deployment'" in refused.stderr
    assert "built for 'staging'" in refused.stderr


def test_an_unknown_environment_is_refused_with_the_choices(tmp_path):
    result = load(tmp_path, DJANGO_ENV="production")
    assert result.returncode != 0
    assert "'production'" in result.stderr
    assert "development, deployment, staging" in result.stderr


def test_local_settings_are_loaded_last_in_development(tmp_path):
    files = {"local.py": 'TIME_ZONE = "Europe/Budapest"\nDEBUG = False\n'}
    chosen, _ = loaded(tmp_path, files)
    assert chosen["TIME_ZONE"] == "Europe/Budapest"
    assert chosen["DEBUG"] is False


def test_local_settings_never_reach_deployment(tmp_path):
    files = {"local.py": 'TIME_ZONE = "Europe/Budapest"\n'}
    chosen, _ = loaded(tmp_path, files, **deployment_environ())
    assert chosen["TIME_ZONE"] == "UTC"


def test_an_error_inside_local_settings_is_not_hidden(tmp_path):
    files = {"local.py": "import module_that_does_not_exist\n"}
    result = load(tmp_path, files)
    assert result.returncode != 0
    assert "module_that_does_not_exist" in result.stderr


def test_https_starts_with_a_short_hsts_and_one_setting_decides_redirect_and_cookies(tmp_path):
    report, _ = loaded(tmp_path, **deployment_environ())
    assert report["HTTPS"] == [True, True, True]
    assert report["HSTS"] == [86400, False, False]
    # A server tried out over plain HTTP: no redirect, and cookies a browser
    # sends back over HTTP, so the admin login works.
    report, _ = loaded(tmp_path / "plain", **deployment_environ(DJANGO_SECURE_SSL_REDIRECT="false"))
    assert report["HTTPS"] == [False, False, False]


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_malformed_boolean_is_named(tmp_path, value):
    result = load(tmp_path, **deployment_environ(DJANGO_SECURE_SSL_REDIRECT=value))
    assert result.returncode != 0
    assert f"DJANGO_SECURE_SSL_REDIRECT={value!r} is not a boolean" in result.stderr


def test_postgresql_connections_time_out_after_connecting_too():
    from {{ project_name }}.settings.base import database_settings

    options = database_settings("postgres://app@127.0.0.1:5432/app")["OPTIONS"]
    seconds = options["connect_timeout"]
    # Persistent connections outlive connect_timeout: TCP must notice a vanished server.
    assert options["tcp_user_timeout"] == seconds * 1000
    assert options["keepalives"] == 1
    assert options["keepalives_idle"] == options["keepalives_interval"] == seconds
    assert "OPTIONS" not in database_settings("sqlite:///db.sqlite3")
