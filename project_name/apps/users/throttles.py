"""Limits on password guessing, shared by the API's token login and the admin's login.

Every login attempt makes the server hash a password (PBKDF2, about 0.4 s of a
worker's CPU), found or not: unlimited attempts are both a way to guess
passwords and a cheap way to keep every worker busy. Two limits apply to each
attempt, a POST to either login, counted in Django's default cache (Redis on
a server, so all workers and servers share the counts):

- per client address (scope ``login_client``): one address cannot occupy the
  workers or guess quickly;
- per account, by the username submitted (scope ``login_account``): guesses
  spread over many addresses still meet a limit.

The rates are REST_FRAMEWORK's DEFAULT_THROTTLE_RATES (settings/base.py).
Successful logins count as attempts too: the limit is checked before the
password is, and a success costs the same hash as a failure.
"""

import functools
import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

# The field both login forms name the username with: DRF's AuthTokenSerializer
# and Django's AuthenticationForm call it "username" whatever USERNAME_FIELD is.
USERNAME_FIELD = "username"


class LoginThrottle(SimpleRateThrottle):
    """A rate on login attempts: POSTs only; showing a login form costs no hash."""

    def get_rate(self) -> str:
        """The scope's rate, read at each request.

        SimpleRateThrottle reads the rates once, when DRF is imported; reading
        them here lets a changed setting (a test's) take effect.
        """
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request: HttpRequest, view: Any) -> str | None:
        """The counter this attempt belongs to, or None for a request that is no attempt."""
        if request.method != "POST":
            return None
        ident = self.attempt_ident(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def attempt_ident(self, request: HttpRequest) -> str | None:
        """What this limit counts attempts by; None not to count the request."""
        raise NotImplementedError


class LoginClientThrottle(LoginThrottle):
    """Login attempts per client address.

    The address is DRF's get_ident: REMOTE_ADDR, or with NUM_PROXIES set (the
    deployment settings: nginx in front) the address the last proxy appended
    to X-Forwarded-For, never one the client wrote there itself.
    """

    scope = "login_client"

    def attempt_ident(self, request: HttpRequest) -> str | None:
        return self.get_ident(request)


class LoginAccountThrottle(LoginThrottle):
    """Login attempts per account: per username submitted, from any address.

    Looser than the per-client limit on purpose: anyone who knows a username
    can use up its allowance and so keep its owner from logging in for a
    while; the limit must still stop guessing spread over many addresses.
    """

    scope = "login_account"

    def attempt_ident(self, request: HttpRequest) -> str | None:
        username = submitted_username(request)
        if username is None:
            return None
        # Hashed: a bounded key any cache accepts, and the cache never holds
        # what people typed as a username (now and then their password).
        return hashlib.sha256(username.encode()).hexdigest()


def submitted_username(request: HttpRequest) -> str | None:
    """The username a login POST submits, case-folded and stripped; None without one.

    Case-folded so "Alice" and "alice " count against one account. A request
    without a username (or with one no login form would accept) never reaches
    the password check, so it costs no hash and is not counted per account.
    """
    # A DRF Request parses JSON as well as forms into .data; Django's has POST.
    data = getattr(request, "data", None)
    if data is None:
        data = request.POST
    if not isinstance(data, Mapping):
        return None
    value = data.get(USERNAME_FIELD)
    # What DRF's CharField accepts: numbers are usernames too, and get checked.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    username = str(value).strip().casefold()
    return username or None


LOGIN_THROTTLES: tuple[type[LoginThrottle], ...] = (LoginClientThrottle, LoginAccountThrottle)


def login_wait(request: HttpRequest, view: Any = None) -> int | None:
    """Seconds before ``request``, a login attempt over a limit, may be retried; else None.

    None means the attempt is allowed, and it has been counted. The limits are
    checked in order and the first one exceeded ends the check, so an attempt
    the client's own limit refuses uses up nothing of the account's.
    """
    for throttle_class in LOGIN_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, view):
            wait = throttle.wait()
            # wait() is None only when the rate was lowered under the count.
            return max(1, math.ceil(wait if wait is not None else throttle.duration))
    return None


def throttle_login(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``view`` (a Django login view: the admin's) with login attempts limited.

    An attempt over a limit gets a plain 429 with Retry-After, as the API's
    token login does, and never reaches ``view``.
    """

    @functools.wraps(view)
    def throttled(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = login_wait(request)
        if wait is None:
            return view(request, *args, **kwargs)
        response = HttpResponse(
            f"Too many login attempts. Try again in {wait} seconds.\n",
            status=429,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(wait)
        add_never_cache_headers(response)
        return response

    return throttled
