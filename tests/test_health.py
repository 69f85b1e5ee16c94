import pytest

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
    assert set(body["components"]) == {"database", "cache", "broker"}
    for component in body["components"].values():
        assert component["status"] == "ok"
        assert component["required"] is True
        assert component["latency_ms"] >= 0
    assert "no-cache" in response["Cache-Control"]


def test_a_required_component_down_answers_503_and_names_it(client, settings):
    settings.CACHES = UNREACHABLE_REDIS
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["components"]["database"]["status"] == "ok"
    cache = body["components"]["cache"]
    assert cache["status"] == "fail"
    assert "Connection" in cache["error"]


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
