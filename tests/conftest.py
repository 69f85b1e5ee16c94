import os

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery-staple"


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
