"""Settings for servers: production, and through ``staging`` the staging server.

Every secret and address comes from the environment (on a server: the env
file provisioning writes, outside the release). Without the required
variables the project refuses to start and names each one that is missing.
"""

from .base import *  # noqa: F403
from .base import (
    REST_FRAMEWORK,
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

env.require_all()

DATABASES = {"default": database_settings(_database_url)}
CACHES = cache_settings(_redis_url)
globals().update(celery_settings(_broker_url))
# Elasticsearch when ELASTICSEARCH_URL is set, PostgreSQL's full-text search otherwise.
SEARCH = search_settings(env.str("ELASTICSEARCH_URL", ""), DATABASES["default"])
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# nginx terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", True)
# The deploy health check talks to the app server directly, over plain HTTP,
# and load balancers may probe the liveness endpoint over plain HTTP too.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^health/live/$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", True)

# nginx, on the same host, appends the address a request came from to
# X-Forwarded-For: the client address the login limits count by is that last
# entry, not any a client wrote there itself (users/throttles.py). Behind one
# more proxy (a load balancer in front of nginx) this is 2, and nginx's own
# login limit needs the client's address too (set_real_ip_from).
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": 1}

LOGGING = logging_settings(json_lines=True, level=env.str("DJANGO_LOG_LEVEL", "INFO"))
