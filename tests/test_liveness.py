"""/health/live/: what load balancers ask, cheap and public."""

import json

import pytest

from .helpers import deployment_environ, manage

pytestmark = pytest.mark.django_db

UNREACHABLE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Nothing listens on port 1 of loopback.
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


def broken_check():
    raise RuntimeError("this component is down")


def test_liveness_answers_ok_with_no_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert b"version" not in response.content
    assert "no-cache" in response["Cache-Control"]


def test_liveness_asks_no_service(client, settings):
    # Every component /health/ checks is down, and the cache unreachable.
    settings.CACHES = UNREACHABLE
    everything = {"check": f"{__name__}.broken_check", "required": True}
    settings.HEALTH_CHECKS = {"everything": everything}
    assert client.get("/health/").status_code == 503
    assert client.get("/health/live/").status_code == 200


def test_liveness_answers_head_but_not_post(client):
    assert client.head("/health/live/").status_code == 200
    assert client.post("/health/live/").status_code == 405


def test_under_the_deployment_settings_probes_over_plain_http_are_answered():
    # A load balancer probing the app's port over HTTP gets its answer, not a
    # redirect to HTTPS, and the check touches none of the (unreachable) services.
    script = (
        "import json; from django.test import Client; c = Client(HTTP_HOST='example.com'); "
        "print(json.dumps([c.get(p).status_code for p in ('/health/live/', '/api/articles/')]))"
    )
    result = manage(
        "shell",
        "-c",
        script,
        **deployment_environ(
            DATABASE_URL="postgres://app:secret@127.0.0.1:1/app",
            REDIS_URL="redis://127.0.0.1:1/0",
            CELERY_BROKER_URL="amqp://app:secret@127.0.0.1:1//",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [200, 301]


def test_the_detailed_report_still_has_the_version(client):
    assert "version" in client.get("/health/").json()
