"""The search component of /health/."""

from .backends import get_backend
from .registry import documents


def check_search():
    """A cheap request to the search backend for every searchable model."""
    get_backend().check(documents())
