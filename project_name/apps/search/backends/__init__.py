"""The search backend the SEARCH setting names, built once per process."""

import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .base import (
    MissingIndexError,
    SearchBackend,
    SearchIndexError,
    SearchResults,
    TransientSearchError,
)

__all__ = [
    "MissingIndexError",
    "SearchBackend",
    "SearchIndexError",
    "SearchResults",
    "TransientSearchError",
    "get_backend",
]


@functools.cache
def get_backend():
    """The configured backend (the SEARCH setting's BACKEND and OPTIONS)."""
    backend_class = import_string(settings.SEARCH["BACKEND"])
    return backend_class(**settings.SEARCH.get("OPTIONS", {}))


def _forget_backend(setting, **kwargs):
    if setting == "SEARCH":
        get_backend.cache_clear()


setting_changed.connect(_forget_backend)
