import contextlib
import json
import os
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery import current_app
from django.db import OperationalError, connection
from kombu.exceptions import OperationalError as BrokerError

from {{ project_name }}.apps.health import backups, checks

from .helpers import manage

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Port 1 on loopback: nothing listens there, so connecting fails at once.
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


def test_healthy_components_answer_200(client):
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {"database", "cache", "broker", "search"}
    for name, component in body["components"].items():
        assert component["status"] == "ok"
        # A search outage is reported without taking the site out of service.
        assert component["required"] is (name != "search")
        assert component["latency_ms"] >= 0
    assert "no-cache" in response["Cache-Control"]
    # Deploys write VERSION into each release; a checkout has none.
    assert body["version"] is None


def test_a_required_component_down_answers_503_and_names_it(client, settings):
    settings.CACHES = UNREACHABLE_REDIS
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["components"]["database"]["status"] == "ok"
    cache = body["components"]["cache"]
    assert cache["status"] == "fail"
    assert cache["error"] == "ConnectionError"


def test_failures_name_no_server_to_the_public_and_are_logged_whole(client, settings, caplog):
    settings.CACHES = UNREACHABLE_REDIS
    response = client.get("/health/")
    # Anyone may ask /health/: the answer says what kind of failure, never where.
    assert "127.0.0.1" not in response.content.decode()
    (record,) = [r for r in caplog.records if r.name.endswith("health.report")]
    assert record.levelname == "WARNING"
    assert "connecting to 127.0.0.1:1" in caplog.handler.format(record)


def test_an_optional_component_down_is_reported_but_answers_200(client, settings):
    settings.CACHES = UNREACHABLE_REDIS
    settings.HEALTH_CHECKS = {
        **settings.HEALTH_CHECKS,
        "cache": {**settings.HEALTH_CHECKS["cache"], "required": False},
    }
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["components"]["cache"]["status"] == "fail"


def test_health_answers_head_but_not_post(client):
    assert client.head("/health/").status_code == 200
    assert client.post("/health/").status_code == 405


@pytest.fixture
def silent_server():
    """A port that accepts connections and then never says a word."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield server.getsockname()[1]


def test_servers_that_never_answer_fail_health_within_the_timeout(silent_server):
    started = time.monotonic()
    result = manage(
        "shell",
        "-c",
        "import json; from {{ project_name }}.apps.health.report import health_report; "
        "print(json.dumps(health_report()))",
        DJANGO_CONNECT_TIMEOUT="1",
        DATABASE_URL=f"postgres://app@127.0.0.1:{silent_server}/app",
        REDIS_URL=f"redis://127.0.0.1:{silent_server}/0",
        CELERY_BROKER_URL=f"amqp://app:secret@127.0.0.1:{silent_server}//",
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    healthy, report = json.loads(result.stdout.splitlines()[-1])
    assert healthy is False
    for name in ("database", "cache", "broker"):
        assert report["components"][name]["status"] == "fail", report
        assert report["components"][name]["latency_ms"] < 5000, report
    assert elapsed < 30


@pytest.mark.service("postgresql")
def test_the_database_check_gives_up_on_a_query_that_never_ends(settings, monkeypatch):
    # An open connection, where connect_timeout no longer applies, to a stalled server.
    connection.ensure_connection()
    settings.CONNECT_TIMEOUT = 1
    monkeypatch.setattr(checks, "PROBE", "SELECT pg_sleep(10)")
    started = time.monotonic()
    with pytest.raises(OperationalError, match="statement timeout"):
        checks.check_database()
    assert time.monotonic() - started < 5


@pytest.mark.service("postgresql")
@pytest.mark.django_db(transaction=True)
def test_the_database_checks_timeout_ends_with_the_check():
    checks.check_database()
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("0",)


def test_the_cache_check_fails_when_what_it_wrote_is_not_read_back(settings):
    # A cache that accepts every write and keeps nothing.
    dummy = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    settings.CACHES = {"default": dummy}
    with pytest.raises(RuntimeError, match="not read back"):
        checks.check_cache()


class Relay:
    """A port relaying TCP to the real broker: a broker that can go down, hang or restart."""

    def __init__(self, upstream, port=0):
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.sockets = []
        self.paused = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # stopped
            self.accepted += 1
            broker = socket.create_connection(self.upstream)
            self.sockets += [client, broker]
            for source, dest in ((client, broker), (broker, client)):
                threading.Thread(target=self.pump, args=(source, dest), daemon=True).start()

    def pump(self, source, dest):
        try:
            while data := source.recv(65536):
                while self.paused.is_set():
                    time.sleep(0.05)
                dest.sendall(data)
            dest.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def drop_connections(self):
        """Close every connection, as a broker that restarts does."""
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.sockets = []

    def stop(self):
        """Go down: connections closed, and no more accepted."""
        if self.server.fileno() != -1:
            # shutdown, not close alone: it wakes the accept() waiting in the thread.
            self.server.shutdown(socket.SHUT_RDWR)
            self.server.close()
        self.drop_connections()


@pytest.fixture
def relay(monkeypatch, settings):
    """A Relay to CELERY_BROKER_URL's broker, which the broker check then uses."""
    broker = urlsplit(os.environ["CELERY_BROKER_URL"])
    relay = Relay((broker.hostname, broker.port or 5672))
    credentials = broker.netloc.rpartition("@")[0]
    url = urlunsplit(broker._replace(netloc=f"{credentials}@127.0.0.1:{relay.port}"))
    monkeypatch.setitem(current_app.conf, "broker_write_url", url)
    settings.CONNECT_TIMEOUT = 1
    checks.close_broker()
    yield relay
    checks.close_broker()
    relay.stop()


@pytest.mark.service("rabbitmq")
def test_the_broker_check_keeps_one_connection_open(relay):
    for _ in range(3):
        checks.check_broker()
    assert relay.accepted == 1


@pytest.mark.service("rabbitmq")
def test_a_broker_that_went_down_fails_the_check(relay, client):
    checks.check_broker()
    relay.stop()
    started = time.monotonic()
    with pytest.raises(BrokerError, match="Connection refused"):
        checks.check_broker()
    assert time.monotonic() - started < 2
    # And /health/ says so, on its next request as on this one.
    for _ in range(2):
        response = client.get("/health/")
        assert response.status_code == 503
        assert response.json()["components"]["broker"]["status"] == "fail"


@pytest.mark.service("rabbitmq")
def test_a_broker_that_restarted_passes_on_a_new_connection(relay):
    checks.check_broker()
    relay.drop_connections()
    checks.check_broker()
    assert relay.accepted == 2
    checks.check_broker()
    assert relay.accepted == 2


@pytest.mark.service("rabbitmq")
def test_a_broker_that_stopped_answering_fails_the_check_within_the_timeout(relay):
    checks.check_broker()
    relay.paused.set()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        checks.check_broker()
    # One timeout (CONNECT_TIMEOUT, 1 s here), not one more for a new connection.
    assert time.monotonic() - started < 1.9
    assert relay.accepted == 1
    relay.paused.clear()
    checks.check_broker()
    assert relay.accepted == 2


@pytest.mark.service("rabbitmq")
def test_a_broker_that_comes_back_is_reached_again(relay):
    checks.check_broker()
    port, upstream = relay.port, relay.upstream
    relay.stop()
    with pytest.raises(BrokerError):
        checks.check_broker()
    back = Relay(upstream, port)
    try:
        checks.check_broker()
        assert back.accepted == 1
    finally:
        checks.close_broker()
        back.stop()


# Backups (roles/backup writes each job's status; apps/health/backups.py reads it).

BACKUP_CHECKS = {
    name: {"check": f"{backups.__name__}.{check}", "required": False}
    for name, check in (
        ("backup_database", "check_database_backup"),
        ("backup_media", "check_media_backup"),
    )
}


def job_status(ok=True, due_in=timedelta(hours=1)):
    now = datetime.now(UTC)
    return {
        "ok": ok,
        "last_success": (now - timedelta(hours=1)).isoformat(),
        "due_by": (now + due_in).isoformat(),
        "error": None if ok else "pgbackrest failed (exit 56): no disk",
    }


@pytest.mark.parametrize(
    ("database", "media", "errors"),
    [
        (job_status(), job_status(), {}),
        (job_status(ok=False), job_status(), {"backup_database": "BackupFailed"}),
        (job_status(), job_status(due_in=-timedelta(minutes=1)), {"backup_media": "BackupOverdue"}),
        (job_status(), None, {"backup_media": "BackupMissing"}),
    ],
)
def test_backups_that_failed_are_overdue_or_never_ran_are_reported_and_the_site_serves_on(
    client, settings, tmp_path, database, media, errors
):
    for kind, status in (("database", database), ("media", media)):
        if status is not None:
            (tmp_path / f"{kind}.json").write_text(json.dumps(status))
    settings.BACKUP_STATUS_DIR = str(tmp_path)
    settings.HEALTH_CHECKS = {**settings.HEALTH_CHECKS, **BACKUP_CHECKS}
    response = client.get("/health/")
    assert response.status_code == 200
    components = response.json()["components"]
    found = {name: components[name].get("error") for name in BACKUP_CHECKS}
    assert found == {name: errors.get(name) for name in BACKUP_CHECKS}


@pytest.mark.service("postgresql")
def test_the_wal_archive_check_reads_postgresql_s_archiver():
    # The test server archives nothing: no failure, so the check passes.
    backups.check_wal_archive()


class Archiver:
    """A connection whose pg_stat_archiver says (last archived, last failed)."""

    def __init__(self, row):
        self.row = row

    @contextlib.contextmanager
    def cursor(self):
        row = self.row
        yield type("Cursor", (), {"execute": lambda s, sql: None, "fetchone": lambda s: row})()


@pytest.mark.parametrize(
    ("archived", "failed", "fails"),
    [
        (None, None, False),
        (datetime(2026, 12, 7, 10, 0, tzinfo=UTC), datetime(2026, 12, 7, 9, 0, tzinfo=UTC), False),
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), datetime(2026, 12, 7, 10, 0, tzinfo=UTC), True),
        (None, datetime(2026, 12, 7, 10, 0, tzinfo=UTC), True),
    ],
)
def test_the_wal_archive_fails_when_its_last_attempt_failed(monkeypatch, archived, failed, fails):
    monkeypatch.setattr(backups, "connection", Archiver((archived, failed)))
    if fails:
        with pytest.raises(backups.ArchiveFailing):
            backups.check_wal_archive()
    else:
        backups.check_wal_archive()
