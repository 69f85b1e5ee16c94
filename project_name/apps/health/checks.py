"""One function per component /health/ can check.

Each raises when its component does not answer; the view times it. Register
a new one in the HEALTH_CHECKS setting.
"""

import uuid

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

# What the database check asks; a test swaps in something slow.
PROBE = "SELECT 1"


def check_database():
    """A round trip to the default database, within the connect timeout on PostgreSQL."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A persistent connection is already open, so connect_timeout does
            # not apply: without this a stalled server would hang /health/.
            # SET LOCAL's function form, which takes a parameter; it ends with
            # the transaction, leaving other queries on the connection unbounded.
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                [str(settings.CONNECT_TIMEOUT * 1000)],
            )
        cursor.execute(PROBE)
        cursor.fetchone()


def check_cache():
    """Write, read back and delete a key in the default cache."""
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    try:
        if cache.get(key) != "ok":
            raise RuntimeError("a value written to the cache was not read back")
    finally:
        cache.delete(key)


def check_broker():
    """Connect to the Celery broker; nothing to reach when tasks run eagerly."""
    if current_app.conf.task_always_eager:
        return
    with current_app.connection_for_write() as connection:
        # One attempt: a health check must answer within the connect timeout.
        connection.ensure_connection(max_retries=0)
