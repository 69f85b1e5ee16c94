"""Runs the configured health checks and sums them up."""

import functools
import logging
import time

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@functools.cache
def release_version():
    """The VERSION file a deploy writes into the release (commit and time), if any."""
    try:
        return (settings.BASE_DIR / "VERSION").read_text().strip()
    except FileNotFoundError:
        return None


def component_status(name, check):
    """Run one check; return its status, latency and, on failure, the error's kind.

    /health/ answers anyone, and error messages name hosts, ports and users:
    the answer gives only the exception's class, the log the whole of it.
    """
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # noqa: BLE001 -- any failure means "down"
        logger.warning("Health check %s failed: %s", name, exc, exc_info=True)
        status = {"status": "fail", "error": type(exc).__name__}
    else:
        status = {"status": "ok"}
    status["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return status


def health_report():
    """Return (healthy, report): healthy when every required component answers."""
    components = {}
    healthy = True
    for name, spec in settings.HEALTH_CHECKS.items():
        status = component_status(name, import_string(spec["check"]))
        status["required"] = spec.get("required", True)
        healthy = healthy and (status["status"] == "ok" or not status["required"])
        components[name] = status
    report = {"status": "ok" if healthy else "fail", "version": release_version()}
    return healthy, {**report, "components": components}
