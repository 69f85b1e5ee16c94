import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_project_has_its_own_user_model():
    assert settings.AUTH_USER_MODEL == "users.User"
    assert get_user_model()._meta.db_table == "users_user"


def test_passwords_are_stored_hashed(user):
    assert user.password != PASSWORD
    assert user.check_password(PASSWORD)


def test_superusers_manage_users_in_the_admin(client, user):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(admin)
    changelist = client.get("/admin/users/user/")
    assert changelist.status_code == 200
    assert b"alice" in changelist.content
    assert client.get(f"/admin/users/user/{user.pk}/change/").status_code == 200


def test_the_admin_turns_away_non_staff(client, user):
    client.force_login(user)
    response = client.get("/admin/users/user/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
