"""The deployment settings with Django's connection pool instead of persistent connections.

``make bench-api`` serves the API with these beside the real deployment
settings to show which of the two is faster.
"""

from {{ project_name }}.settings import *  # noqa: F403
from {{ project_name }}.settings import DATABASES

DATABASES = {
    "default": {
        **DATABASES["default"],
        # The pool hands connections back after each request, so none is kept open.
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {**DATABASES["default"].get("OPTIONS", {}), "pool": True},
    }
}
