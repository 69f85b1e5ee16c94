import pytest

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_anonymous_requests_are_challenged(api_client):
    response = api_client.get("/api/users/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_token_login_then_token_authentication(api_client, user):
    response = api_client.post(
        "/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api_client.get("/api/users/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert "password" not in me.json()


def test_token_login_with_a_wrong_password_is_refused(api_client, user):
    response = api_client.post(
        "/api/auth/token/", {"username": "alice", "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    assert "token" not in response.json()


def test_session_authentication(client, user):
    assert client.login(username="alice", password=PASSWORD)
    response = client.get("/api/users/me/")
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_users_see_only_themselves(api_client, user, other_user):
    api_client.force_authenticate(user)
    listing = api_client.get("/api/users/").json()
    assert listing["count"] == 1
    assert [row["username"] for row in listing["results"]] == ["alice"]
    assert api_client.get(f"/api/users/{other_user.pk}/").status_code == 404


def test_staff_see_everyone_paginated(api_client, user, other_user, staff_user):
    api_client.force_authenticate(staff_user)
    listing = api_client.get("/api/users/").json()
    assert listing["count"] == 3
    assert {"next", "previous", "results"} <= listing.keys()
    assert [row["username"] for row in listing["results"]] == ["alice", "bob", "carol"]


def test_the_users_api_is_read_only(api_client, staff_user):
    api_client.force_authenticate(staff_user)
    response = api_client.post("/api/users/", {"username": "mallory"}, format="json")
    assert response.status_code == 405
