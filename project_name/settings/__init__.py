"""Settings for {{ project_name }}, chosen by runtime environment.

The environment is named by the ``DJANGO_ENV`` environment variable (on a
server: the env file provisioning writes) or by ``ENVIRONMENT`` in
``settings/environment.py`` (the deploy build writes it), and is
``development`` when neither is set. When both are set they must agree.

``base`` holds what every environment shares. Each environment module starts
from ``base`` (``staging`` from ``deployment``) and overrides what differs;
its upper-case names become the settings. ``development`` finally loads the
untracked ``local.py`` when it exists.
"""

import importlib
import os

from django.core.exceptions import ImproperlyConfigured

ENVIRONMENTS = ("development", "deployment", "staging")


def _built_environment():
    """``ENVIRONMENT`` of ``settings/environment.py``, or None outside a release."""
    try:
        from .environment import ENVIRONMENT
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.environment":
            raise
        return None
    return ENVIRONMENT


def _selected_environment():
    """Return (name, where it came from).

    On a server both are set: the host's env file (provisioning's
    app_environment) and the release (the deploy target's environment). They
    must agree, or a staging release would silently run on production settings.
    """
    name = os.environ.get("DJANGO_ENV", "").strip()
    built = _built_environment()
    if name and built and name != built:
        raise ImproperlyConfigured(
            f"DJANGO_ENV is {name!r} (on a server: the env file, app_environment in "
            f"provisioning) but this release was built for {built!r} (the deploy target's "
            "environment in fabfile.py); make them the same."
        )
    if name:
        return name, "the DJANGO_ENV environment variable"
    if built:
        return built, f"{__name__}.environment"
    return "development", "the default"


ENVIRONMENT, _source = _selected_environment()
if ENVIRONMENT not in ENVIRONMENTS:
    raise ImproperlyConfigured(
        f"Unknown runtime environment {ENVIRONMENT!r} (from {_source}); "
        f"use one of: {', '.join(ENVIRONMENTS)}."
    )

_module = importlib.import_module(f"{__name__}.{ENVIRONMENT}")
globals().update({key: value for key, value in vars(_module).items() if key.isupper()})
del _module, _source
