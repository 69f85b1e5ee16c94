import os
import uuid

import pytest
from celery import current_app
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from .elasticsearch_stub import ElasticsearchStub

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def own_cache_keys(settings):
    """Cache keys of this test's own, so no count of the login throttles carries over.

    Clearing the cache instead would empty a shared Redis for every other run too.
    """
    settings.CACHES = {
        name: {**cache, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
        for name, cache in settings.CACHES.items()
    }


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        "carol", "carol@example.com", PASSWORD, is_staff=True
    )


# Tests marked @pytest.mark.service("...") need the real server. They run when
# its URL is set (CI sets all of them) and are skipped, saying why, otherwise.
REAL_SERVICES = {
    "postgresql": ("DATABASE_URL", ("postgres://", "postgresql://")),
    "redis": ("REDIS_URL", ("redis://", "rediss://")),
    "rabbitmq": ("CELERY_BROKER_URL", ("amqp://", "amqps://")),
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "service(name): needs the real postgresql, redis or rabbitmq server"
    )


def pytest_collection_modifyitems(items):
    for item in items:
        for marker in item.iter_markers("service"):
            variable, schemes = REAL_SERVICES[marker.args[0]]
            if not os.environ.get(variable, "").startswith(schemes):
                reason = (
                    f"needs a real {marker.args[0]}: set {variable} ({schemes[0]}...) to run it"
                )
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def make_article(user):
    """Create an article by ``user`` (or the given author)."""
    from {{ project_name }}.apps.articles.models import Article

    def make(title, body="", author=None):
        return Article.objects.create(title=title, body=body, author=author or user)

    return make


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process, even where a real broker is configured."""
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = eager


@pytest.fixture
def elasticsearch(settings):
    """The Elasticsearch backend, talking to a stub server on loopback."""
    with ElasticsearchStub() as stub:
        settings.SEARCH = {
            "BACKEND": "{{ project_name }}.apps.search.backends.elasticsearch.ElasticsearchBackend",
            "OPTIONS": {"url": stub.url, "index_prefix": "test", "timeout": 2},
        }
        yield stub
