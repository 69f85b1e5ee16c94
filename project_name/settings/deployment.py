"""Settings for servers: production, and through ``staging`` the staging server.

Every secret and address comes from the environment (on a server: the env
file provisioning writes, outside the release). Without the required
variables the project refuses to start and names each one that is missing.
"""

from .base import *  # noqa: F403
from .base import (
    HEALTH_CHECKS,
    REST_FRAMEWORK,
    STORAGES,
    backup_checks,
    cache_settings,
    celery_settings,
    database_settings,
    search_settings,
)
from .env import Env
from .logs import logging_settings

env = Env(purpose="The deployment settings")

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
# The key before the last rotation (provisioning/secrets): what it signed stays valid.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
_database_url = env.str("DATABASE_URL")
_redis_url = env.str("REDIS_URL")
_broker_url = env.str("CELERY_BROKER_URL")
BACKUP_STATUS_DIR = env.str("DJANGO_BACKUP_STATUS_DIR", "")

env.require_all()

DATABASES = {"default": database_settings(_database_url)}
CACHES = cache_settings(_redis_url)
globals().update(celery_settings(_broker_url))
# Elasticsearch when ELASTICSEARCH_URL is set, PostgreSQL's full-text search otherwise.
SEARCH = search_settings(env.str("ELASTICSEARCH_URL", ""), DATABASES["default"])
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
HEALTH_CHECKS = {**HEALTH_CHECKS, **backup_checks(BACKUP_STATUS_DIR)}
# collectstatic writes each file also under a name with its content's hash,
# which the static template tag links: nginx lets browsers keep those for a year, and a
# changed file gets a new name (conf/nginx.conf.j2).
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# nginx terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# One setting for HTTPS: the redirect, and cookies sent over HTTPS only. Off
# only on a server tried out over plain HTTP, whose admin login then works.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
# The deploy health check talks to the app server directly, over plain HTTP,
# and load balancers may probe the liveness endpoint over plain HTTP too.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^health/live/$"]
# Sent over HTTPS only. A day at first: a mistake then locks browsers out for
# a day, not a year. Raise it (and consider preload) once HTTPS is known to work.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# check --deploy asks for both from the start; here they wait until HTTPS has
# proven itself on every subdomain (the README's HTTPS section).
SILENCED_SYSTEM_CHECKS = [
    check
    for check, raised in (
        ("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS),
        ("security.W021", SECURE_HSTS_PRELOAD),
    )
    if not raised
]

# nginx, on the same host, appends the address a request came from to
# X-Forwarded-For: the client address the login limits count by is that last
# entry, not any a client wrote there itself (users/throttles.py). Behind a
# load balancer nginx puts the client's address there too, taken from the
# balancer's X-Forwarded-For (tls_mode proxy, set_real_ip_from).
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": 1}

LOGGING = logging_settings(json_lines=True, level=env.str("DJANGO_LOG_LEVEL", "INFO"))
