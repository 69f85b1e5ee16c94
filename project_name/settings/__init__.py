"""Settings for {{ project_name }}, chosen by runtime environment.

The environment is the first of:

1. the ``DJANGO_ENV`` environment variable;
2. ``ENVIRONMENT`` in ``settings/environment.py`` (the deploy build writes it);
3. ``development``.

``base`` holds what every environment shares. Each environment module starts
from ``base`` (``staging`` from ``deployment``) and overrides what differs;
its upper-case names become the settings. ``development`` finally loads the
untracked ``local.py`` when it exists.
"""

import importlib
import os

from django.core.exceptions import ImproperlyConfigured

ENVIRONMENTS = ("development", "deployment", "staging")


def _selected_environment():
    """Return (name, where it came from)."""
    name = os.environ.get("DJANGO_ENV", "").strip()
    if name:
        return name, "the DJANGO_ENV environment variable"
    try:
        from .environment import ENVIRONMENT
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.environment":
            raise
        return "development", "the default"
    return ENVIRONMENT, f"{__name__}.environment"


ENVIRONMENT, _source = _selected_environment()
if ENVIRONMENT not in ENVIRONMENTS:
    raise ImproperlyConfigured(
        f"Unknown runtime environment {ENVIRONMENT!r} (from {_source}); "
        f"use one of: {', '.join(ENVIRONMENTS)}."
    )

_module = importlib.import_module(f"{__name__}.{ENVIRONMENT}")
globals().update({key: value for key, value in vars(_module).items() if key.isupper()})
del _module, _source
