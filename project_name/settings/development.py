"""Settings for working on the project on your own machine.

Runs with no server: SQLite and a local-memory cache unless DATABASE_URL or
REDIS_URL say otherwise. Put machine-specific overrides in ``local.py`` beside
this file; it is loaded last and never committed.
"""

import sys

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, MIDDLEWARE, REST_FRAMEWORK, env
from .logs import logging_settings

DEBUG = True
# Good for development only: the deployment settings refuse to start without
# their own key from the environment.
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    "django-insecure-{{ secret_key }}",
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [*INSTALLED_APPS, "django_extensions"]

# The toolbar rewrites responses, which tests should never see.
RUNNING_TESTS = "pytest" in sys.modules or (len(sys.argv) > 1 and sys.argv[1] == "test")
if not RUNNING_TESTS:
    INSTALLED_APPS = [*INSTALLED_APPS, "debug_toolbar"]
    MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware", *MIDDLEWARE]
    INTERNAL_IPS = ["127.0.0.1", "::1"]

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LOGGING = logging_settings(json_lines=False, level=env.str("DJANGO_LOG_LEVEL", "INFO"))

try:
    from .local import *  # noqa: F403
except ModuleNotFoundError as exc:
    if exc.name != f"{__package__}.local":
        raise
