"""The real services, when their URLs are set; see REAL_SERVICES in conftest.py."""

import pytest
from celery import current_app
from django.core.cache import cache, caches
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_broker(monkeypatch):
    """Point Celery at a port where nothing listens, for this test only."""
    # Celery reads CELERY_BROKER_URL from the environment before its own settings.
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:1//")
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    yield
    current_app.conf.task_always_eager = eager


@pytest.mark.service("postgresql")
def test_the_database_is_postgresql():
    assert connection.vendor == "postgresql"
    assert connection.pg_version >= 130000


@pytest.mark.service("postgresql")
def test_open_database_connections_give_up_on_a_vanished_server(settings):
    connection.ensure_connection()
    parameters = connection.connection.info.get_parameters()
    assert parameters["tcp_user_timeout"] == str(settings.CONNECT_TIMEOUT * 1000)
    assert parameters["keepalives"] == "1"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0].startswith("test_")


@pytest.mark.service("redis")
def test_the_cache_is_redis_and_keeps_values():
    assert type(caches["default"]).__name__ == "RedisCache"
    cache.set("services:probe", {"answer": 42}, timeout=30)
    assert cache.get("services:probe") == {"answer": 42}
    cache.delete("services:probe")


@pytest.mark.service("rabbitmq")
def test_the_broker_is_rabbitmq_and_answers(client):
    assert current_app.conf.broker_url.startswith("amqp")
    assert current_app.conf.task_always_eager is False
    broker = client.get("/health/").json()["components"]["broker"]
    assert broker["status"] == "ok"


@pytest.mark.service("postgresql")
@pytest.mark.service("redis")
@pytest.mark.service("rabbitmq")
def test_health_reports_every_real_service_with_its_latency(client):
    response = client.get("/health/")
    assert response.status_code == 200
    for component in response.json()["components"].values():
        assert component["status"] == "ok"
        assert 0 < component["latency_ms"] < 5000


@pytest.mark.usefixtures("unreachable_broker")
def test_an_unreachable_broker_answers_503(client):
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["components"]["broker"]["status"] == "fail"
