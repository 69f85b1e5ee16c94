"""Typed access to the process environment, where every secret comes from.

Settings ask for each variable once. A required variable that is missing is
remembered rather than raised at once, so ``require_all()`` can name every
missing variable in a single error.
"""

import os

from django.core.exceptions import ImproperlyConfigured

REQUIRED = object()


class Env:
    """Reads variables from ``environ``; collects the required ones that are absent."""

    def __init__(self, environ=None, purpose="These settings"):
        self.environ = os.environ if environ is None else environ
        self.purpose = purpose
        self.missing = []

    def _raw(self, name, default):
        value = self.environ.get(name, "").strip()
        if value:
            return value
        if default is REQUIRED:
            self.missing.append(name)
        return None

    def str(self, name, default=REQUIRED):
        """The variable as a string; an empty value counts as unset."""
        value = self._raw(name, default)
        if value is None:
            return "" if default is REQUIRED else default
        return value

    def bool(self, name, default=REQUIRED):
        """The variable as a boolean: 1/true/yes/on or 0/false/no/off."""
        value = self._raw(name, default)
        if value is None:
            return False if default is REQUIRED else default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use true or false.")

    def int(self, name, default=REQUIRED):
        """The variable as an integer."""
        value = self._raw(name, default)
        if value is None:
            return 0 if default is REQUIRED else default
        try:
            return int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None

    def list(self, name, default=REQUIRED):
        """The variable as a comma-separated list, blank items dropped."""
        value = self._raw(name, default)
        if value is None:
            return [] if default is REQUIRED else list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def require_all(self):
        """Raise ImproperlyConfigured naming every required variable that is missing."""
        if self.missing:
            raise ImproperlyConfigured(
                f"{self.purpose} need these environment variables, which are not "
                f"set: {', '.join(self.missing)}. Set them in the process "
                f"environment (on a server: the app's env file)."
            )
