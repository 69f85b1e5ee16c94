"""Settings every runtime environment shares.

Services default to embedded stand-ins (SQLite, local-memory cache) so the
project runs with no server at all; each URL variable switches one of them to
the real service. ``deployment`` requires the real ones.
"""

from pathlib import Path

import dj_database_url

from .env import Env

# The project root: the folder holding manage and this package.
BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = Env()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "{{ project_name }}.apps.users",
    "{{ project_name }}.apps.health",
    "{{ project_name }}.apps.search",
    "{{ project_name }}.apps.articles",
    "{{ project_name }}.apps.api",
    "{{ project_name }}.apps.migration_safety",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "{{ project_name }}.urls"
WSGI_APPLICATION = "{{ project_name }}.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# Seconds to wait for a server to accept a connection: an unreachable one
# must fail a request (and /health/) quickly rather than hang it.
CONNECT_TIMEOUT = env.int("DJANGO_CONNECT_TIMEOUT", 3)


def database_settings(url):
    """A DATABASES entry for ``url``, keeping connections open between requests.

    Persistent connections, not Django's connection pool: with gunicorn's sync
    workers each process serves one request at a time, and ``make bench-api``
    measured the pool no faster (README, "Benchmark").
    """
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if database["ENGINE"] == "django.db.backends.postgresql":
        database.setdefault("OPTIONS", {}).update(postgresql_timeouts(CONNECT_TIMEOUT))
    return database


def postgresql_timeouts(seconds):
    """libpq options that give up on an unresponsive server after about ``seconds``.

    connect_timeout covers only opening a connection. Persistent connections
    stay open, so a server that vanishes later is noticed by TCP: data it
    leaves unacknowledged (tcp_user_timeout, in milliseconds) or keepalive
    probes it leaves unanswered while a query waits close the connection.
    """
    return {
        "connect_timeout": seconds,
        "tcp_user_timeout": seconds * 1000,
        "keepalives": 1,
        "keepalives_idle": seconds,
        "keepalives_interval": seconds,
        "keepalives_count": 3,
    }


def cache_settings(redis_url):
    """CACHES for Redis at ``redis_url``, or local memory when it is empty."""
    if redis_url:
        return {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "OPTIONS": {
                    "socket_connect_timeout": CONNECT_TIMEOUT,
                    "socket_timeout": CONNECT_TIMEOUT,
                },
            }
        }
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


DATABASES = {
    "default": database_settings(env.str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))
}
CACHES = cache_settings(env.str("REDIS_URL", ""))


def celery_settings(broker_url):
    """CELERY_* settings for ``broker_url``; with none, tasks run eagerly in-process."""
    return {
        "CELERY_BROKER_URL": broker_url or "memory://",
        "CELERY_TASK_ALWAYS_EAGER": not broker_url,
        "CELERY_TASK_EAGER_PROPAGATES": True,
        # A task is acknowledged when done, and a worker process killed mid-task
        # (OOM, SIGKILL) hands it back to the queue: none is lost, so each task
        # must be idempotent (search's sync_search_document reads the row anew).
        "CELERY_TASK_ACKS_LATE": True,
        "CELERY_TASK_REJECT_ON_WORKER_LOST": True,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        "CELERY_BROKER_CONNECTION_TIMEOUT": CONNECT_TIMEOUT,
        "CELERY_TASK_SERIALIZER": "json",
        "CELERY_TIMEZONE": "UTC",
    }


globals().update(celery_settings(env.str("CELERY_BROKER_URL", "")))


def search_settings(elasticsearch_url, database):
    """SEARCH for Elasticsearch at ``elasticsearch_url``, else the database's own search."""
    backends = "{{ project_name }}.apps.search.backends"
    if elasticsearch_url:
        return {
            "BACKEND": f"{backends}.elasticsearch.ElasticsearchBackend",
            "OPTIONS": {
                "url": elasticsearch_url,
                # Indexes are named <prefix>-<model>, so projects can share a cluster.
                "index_prefix": env.str("SEARCH_INDEX_PREFIX", "{{ project_name }}"),
                "timeout": CONNECT_TIMEOUT,
            },
        }
    if database["ENGINE"] == "django.db.backends.postgresql":
        return {"BACKEND": f"{backends}.postgresql.PostgresSearchBackend"}
    return {"BACKEND": f"{backends}.database.DatabaseSearchBackend"}


SEARCH = search_settings(env.str("ELASTICSEARCH_URL", ""), DATABASES["default"])

# Created by the first migration: switching user models later is painful.
AUTH_USER_MODEL = "users.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    # Token first: its challenge header makes anonymous requests get a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Login attempts: POSTs to /api/auth/token/ and /admin/login/, counted
    # together and successful ones included, each costing ~0.4 s of CPU for
    # the password hash (users/throttles.py). "N/second|minute|hour|day".
    "DEFAULT_THROTTLE_RATES": {
        # Per client address: someone who mistypes tries a few times, not ten
        # a minute. Ten cost 4 s of CPU a minute, so one address keeps no
        # worker busy (nginx refuses floods over 20 a minute before the app).
        # People behind one NAT address share it.
        "login_client": "10/minute",
        # Per account (the username submitted), from any number of addresses:
        # at most 480 guesses a day. Anyone who knows a username can spend its
        # allowance and keep its owner out for up to the hour, so it allows
        # twice the per-client number: typos alone never lock an account.
        # Scripts should keep their token rather than log in on every run.
        "login_account": "20/hour",
    },
}

# What /health/ checks. A failing required component makes it answer 503;
# an optional one is reported but does not.
HEALTH_CHECKS = {
    "database": {"check": "{{ project_name }}.apps.health.checks.check_database", "required": True},
    "cache": {"check": "{{ project_name }}.apps.health.checks.check_cache", "required": True},
    "broker": {"check": "{{ project_name }}.apps.health.checks.check_broker", "required": True},
    # Reported, but a search outage should not take the whole site out of service.
    "search": {"check": "{{ project_name }}.apps.search.checks.check_search", "required": False},
}
# Where a server's backup jobs record their results (roles/backup); empty: no
# backups here, and /health/ does not report them.
BACKUP_STATUS_DIR = ""


def backup_checks(status_dir: str) -> dict:
    """The /health/ components of the backups, reported but not required.

    A failed backup must be seen and fixed, but the site serves on.
    """
    if not status_dir:
        return {}
    module = "{{ project_name }}.apps.health.backups"
    return {
        name: {"check": f"{module}.{check}", "required": False}
        for name, check in (
            ("backup_database", "check_database_backup"),
            ("backup_media", "check_media_backup"),
            ("wal_archive", "check_wal_archive"),
        )
    }
