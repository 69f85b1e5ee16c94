"""API views of no app of their own."""

from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request

from ..users.throttles import login_wait


class TokenLogin(ObtainAuthToken):
    """A user's API token for a username and password, with attempts limited.

    The limits (per client address, per account) are users/throttles.py's,
    which the admin's login shares.
    """

    def check_throttles(self, request: Request) -> None:
        """Answer 429 with Retry-After to an attempt over a login limit.

        Not throttle_classes: DRF would count an attempt the client's limit
        refuses against the account's limit as well.
        """
        wait = login_wait(request, self)
        if wait is not None:
            self.throttled(request, wait)
