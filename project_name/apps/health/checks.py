"""One function per component /health/ can check.

Each raises when its component does not answer; the view times it. Register
a new one in the HEALTH_CHECKS setting.
"""

import atexit
import os
import threading
import uuid
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from kombu import Connection

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


def check_cache() -> None:
    """Write a value to the default cache and read it back.

    Two round trips to Redis, not three: the key is new each time, so no
    other check ever reads it, and it expires by itself a little later, so
    deleting it would only cost another round trip on every check.
    """
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("a value written to the cache was not read back")


class BrokerLink:
    """A connection to the Celery broker with a channel, open until it fails.

    Opening an AMQP connection for every check took ~45 % of /health/'s time
    (152 requests a second; 334 with the connection kept open), so each
    process keeps one. That it is open proves nothing: each check makes a
    round trip on it, which fails when the broker went down or dropped it.
    """

    def __init__(self, url: str) -> None:
        """Connect to ``url`` and open a channel (a round trip): one attempt, bounded."""
        self.url = url
        self.pid = os.getpid()
        seconds = settings.CONNECT_TIMEOUT
        # The read and write timeouts bound the round trips on the open
        # connection; Celery's connect timeout bounds only opening it.
        self.connection: Connection = current_app.connection_for_write(
            url, transport_options={"read_timeout": seconds, "write_timeout": seconds}
        )
        try:
            # One attempt: a health check must answer within the connect timeout.
            self.connection.ensure_connection(max_retries=0)
            self.channel: Any = self.connection.channel()
        except BaseException:
            self.discard()
            raise

    def ping(self) -> None:
        """One round trip: basic.qos, which changes nothing on a channel with no consumer."""
        self.channel.basic_qos(prefetch_size=0, prefetch_count=0, a_global=False)

    def discard(self) -> None:
        """Drop the connection without a word to the broker, which may not answer."""
        self.connection.collect()

    def close(self) -> None:
        """Close the connection politely, so the broker logs no connection lost."""
        try:
            self.connection.release()
        except Exception:  # noqa: BLE001 -- exiting anyway; the broker copes
            self.discard()


# This process's link to the broker. gunicorn's sync workers serve one request
# at a time; the lock is for threaded servers (runserver), whose checks then
# take turns on the one connection.
_broker_lock = threading.Lock()
_broker: BrokerLink | None = None


def check_broker() -> None:
    """A round trip to the Celery broker; nothing to reach when tasks run eagerly.

    On the connection this process keeps open (BrokerLink). When that fails,
    one new connection is tried at once: a broker that restarted (and so
    dropped every connection) passes, one that is down fails. A kept
    connection that timed out is not retried, so a check waits for the
    broker's silence once only.
    """
    global _broker
    if current_app.conf.task_always_eager:
        return
    url = current_app.conf.broker_write_url
    with _broker_lock:
        link, _broker = _broker, None
        # A link made before a fork is the parent's socket: leave it alone.
        if link is not None and link.pid != os.getpid():
            link = None
        if link is not None and link.url != url:
            link.discard()
            link = None
        if link is not None:
            try:
                link.ping()
            except TimeoutError:
                link.discard()
                raise
            except Exception:  # noqa: BLE001 -- dropped: try a new connection below
                link.discard()
                link = None
        if link is None:
            link = BrokerLink(url)
        _broker = link


@atexit.register
def close_broker() -> None:
    """Close this process's broker connection, if it has one (at exit: a recycled worker)."""
    global _broker
    with _broker_lock:
        link, _broker = _broker, None
    if link is not None and link.pid == os.getpid():
        link.close()
