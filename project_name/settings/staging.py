"""Staging: the deployment settings with as few differences as possible."""

from .deployment import *  # noqa: F403
from .deployment import env
from .logs import logging_settings

# More detail while trying things out before production.
LOGGING = logging_settings(json_lines=True, level=env.str("DJANGO_LOG_LEVEL", "DEBUG"))
