"""Login attempts limited per client address and per account (users/throttles.py)."""

import uuid

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.urls import resolve, reverse

from .conftest import PASSWORD
from .helpers import deployment_environ, manage

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"
ADMIN_LOGIN = "/admin/login/"


def allowance(scope):
    """How many attempts the configured rate of ``scope`` allows, and in how many seconds."""
    number, period = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope].split("/")
    return int(number), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


@pytest.fixture(autouse=True)
def own_counts(settings):
    """Counts of this test's own, under a key prefix no other test (or run) uses.

    Not cache.clear(): on Redis that would empty a database other runs may share.
    """
    own = {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    settings.CACHES = {"default": own}
    # Attempts cost ~0.4 s each with the real hasher; the limits do not care which.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def behind_nginx(settings):
    """The deployment settings' proxy count: nginx appends the client's address."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}


def token_login(api_client, username="alice", password="wrong", **extra):  # noqa: S107
    return api_client.post(
        TOKEN, {"username": username, "password": password}, format="json", **extra
    )


def admin_login(client, username="alice", password="wrong", **extra):  # noqa: S107
    # What the admin's form posts, next included.
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post(ADMIN_LOGIN, data, **extra)


def assert_refused(response, within):
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= within


def address(n):
    """A different client address for each ``n`` (TEST-NET-3 and onwards)."""
    return f"203.0.{113 + n // 250}.{n % 250 + 1}"


def test_the_token_login_refuses_the_attempt_after_the_clients_allowance(api_client, user):
    attempts, seconds = allowance("login_client")
    for n in range(attempts):
        # Different accounts: only the client's limit can be reached.
        assert token_login(api_client, username=f"user{n}").status_code == 400
    response = token_login(api_client, username="someone-else")
    assert_refused(response, within=seconds)
    assert "throttled" in response.json()["detail"].lower()
    # Even with the right password: the limit comes before the password check.
    assert_refused(token_login(api_client, password=PASSWORD), within=seconds)


def test_other_clients_are_not_refused_for_one_clients_attempts(api_client, user):
    attempts, _ = allowance("login_client")
    for n in range(attempts + 1):
        token_login(api_client, username=f"user{n}")
    assert token_login(api_client, password=PASSWORD, REMOTE_ADDR=address(1)).status_code == 200


def test_attempts_on_one_account_from_many_addresses_meet_the_accounts_limit(api_client, user):
    attempts, seconds = allowance("login_account")
    for n in range(attempts):
        assert token_login(api_client, REMOTE_ADDR=address(n)).status_code == 400
    assert_refused(token_login(api_client, REMOTE_ADDR=address(attempts)), within=seconds)
    # Other accounts are still open to that address.
    response = token_login(api_client, username="bob", REMOTE_ADDR=address(attempts))
    assert response.status_code == 400


def test_behind_nginx_attempts_from_many_forwarded_addresses_meet_the_accounts_limit(
    api_client, user, behind_nginx
):
    attempts, seconds = allowance("login_account")
    for n in range(attempts):
        response = token_login(api_client, HTTP_X_FORWARDED_FOR=address(n))
        assert response.status_code == 400
    response = token_login(api_client, HTTP_X_FORWARDED_FOR=address(attempts))
    assert_refused(response, within=seconds)


def test_behind_nginx_a_client_cannot_pose_as_other_addresses(api_client, behind_nginx):
    attempts, seconds = allowance("login_client")
    # What nginx sends: whatever the client put in X-Forwarded-For, then the
    # address nginx got the request from, which alone counts.
    for n in range(attempts):
        forwarded = f"{address(n)}, 198.51.100.7"
        response = token_login(api_client, username=f"user{n}", HTTP_X_FORWARDED_FOR=forwarded)
        assert response.status_code == 400
    forwarded = f"{address(attempts)}, 198.51.100.7"
    assert_refused(token_login(api_client, HTTP_X_FORWARDED_FOR=forwarded), within=seconds)


def test_usernames_count_case_folded_and_stripped(api_client, user):
    attempts, seconds = allowance("login_account")
    spellings = ["alice", "Alice", " ALICE", "alice\t", "aLiCe "]
    for n in range(attempts):
        response = token_login(api_client, username=spellings[n % 5], REMOTE_ADDR=address(n))
        assert response.status_code == 400
    assert_refused(token_login(api_client, REMOTE_ADDR=address(attempts)), within=seconds)


def test_successful_logins_count_as_attempts(api_client, user):
    # Each costs the same password hash as a failed one; a client should keep its token.
    attempts, seconds = allowance("login_account")
    for n in range(attempts):
        response = token_login(api_client, password=PASSWORD, REMOTE_ADDR=address(n))
        assert response.status_code == 200
    response = token_login(api_client, password=PASSWORD, REMOTE_ADDR=address(attempts))
    assert_refused(response, within=seconds)


def test_attempts_the_clients_limit_refuses_use_up_nothing_of_the_accounts(api_client, user):
    client_attempts, _ = allowance("login_client")
    account_attempts, _ = allowance("login_account")
    for _ in range(client_attempts):
        assert token_login(api_client).status_code == 400
    for _ in range(5):
        assert token_login(api_client).status_code == 429
    # The account has had client_attempts so far, not client_attempts + 5.
    for n in range(account_attempts - client_attempts):
        assert token_login(api_client, REMOTE_ADDR=address(n)).status_code == 400
    assert token_login(api_client, REMOTE_ADDR=address(999)).status_code == 429


def test_requests_that_are_no_login_attempt_are_not_counted(api_client):
    attempts, _ = allowance("login_client")
    for _ in range(attempts + 1):
        assert api_client.get(TOKEN).status_code == 405
        assert api_client.options(TOKEN).status_code == 200
    assert token_login(api_client).status_code == 400


def test_attempts_without_a_username_count_for_the_client_only(api_client, user):
    client_attempts, seconds = allowance("login_client")
    account_attempts, _ = allowance("login_account")
    # Refused before any password is checked: no account to charge them to.
    for n in range(account_attempts + 1):
        response = api_client.post(TOKEN, {"password": "x"}, format="json", REMOTE_ADDR=address(n))
        assert response.status_code == 400
    for _ in range(client_attempts):
        assert api_client.post(TOKEN, {"password": "x"}, format="json").status_code == 400
    assert_refused(token_login(api_client), within=seconds)
    assert token_login(api_client, password=PASSWORD, REMOTE_ADDR=address(999)).status_code == 200


def test_the_admin_login_refuses_the_attempt_after_the_clients_allowance(client, staff_user):
    attempts, seconds = allowance("login_client")
    for n in range(attempts):
        response = admin_login(client, username=f"user{n}")
        # The form again, with its error.
        assert response.status_code == 200
        assert b"Please enter the correct username and password" in response.content
    response = admin_login(client, username="carol", password=PASSWORD)
    assert_refused(response, within=seconds)
    assert response["Content-Type"].startswith("text/plain")
    assert "no-cache" in response["Cache-Control"]
    assert "_auth_user_id" not in client.session


def test_the_admin_login_meets_the_accounts_limit_from_many_addresses(client, staff_user):
    attempts, seconds = allowance("login_account")
    for n in range(attempts):
        assert admin_login(client, username="carol", REMOTE_ADDR=address(n)).status_code == 200
    response = admin_login(client, username="carol", REMOTE_ADDR=address(attempts))
    assert_refused(response, within=seconds)


def test_showing_the_admin_login_form_is_not_an_attempt(client, staff_user):
    attempts, _ = allowance("login_client")
    for _ in range(attempts + 1):
        assert client.get(ADMIN_LOGIN).status_code == 200
    response = admin_login(client, username="carol", password=PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_both_logins_share_the_clients_allowance(client, api_client):
    attempts, _ = allowance("login_client")
    for n in range(attempts):
        if n % 2:
            assert admin_login(client, username=f"user{n}").status_code == 200
        else:
            assert token_login(api_client, username=f"user{n}").status_code == 400
    assert admin_login(client, username="someone").status_code == 429
    assert token_login(api_client, username="someone").status_code == 429


def test_the_admins_login_url_is_the_limited_view():
    # Where the admin sends people to log in, and its form posts to.
    assert reverse("admin:login") == ADMIN_LOGIN
    view = resolve(ADMIN_LOGIN).func
    assert view != admin.site.login
    assert view.__wrapped__ == admin.site.login
    # Django's LoginRequiredMiddleware, if added, must still let anyone log in.
    assert getattr(view, "login_required", True) is False


def test_the_deployment_settings_count_the_address_nginx_appends():
    result = manage(
        "shell",
        "-c",
        "from rest_framework.settings import api_settings; print(api_settings.NUM_PROXIES)",
        **deployment_environ(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "1"


def test_the_development_settings_count_the_requests_own_address():
    # No proxy in front: X-Forwarded-For, if any, would be the client's own words.
    assert "NUM_PROXIES" not in django_settings.REST_FRAMEWORK
