"""provisioning/test/check_server.py counts a refusal only when the service says so."""

import pytest

from .helpers import script

check_server = script("provisioning/test/check_server.py")


class Refusal(Exception):
    pass


def fails_with(error):
    def attempt():
        raise error

    return attempt


@pytest.mark.parametrize(
    ("attempt", "saying", "counted"),
    [
        (fails_with(Refusal("password authentication failed")), "password authentication", True),
        (fails_with(Refusal("database does not exist")), "password authentication", False),
        (lambda: None, "", False),
    ],
    ids=["the refusal asked for", "another error of the same kind", "no error at all"],
)
def test_a_refusal_is_counted_only_when_the_service_refuses(attempt, saying, counted):
    assert check_server.refused(attempt, Refusal, saying=saying) is counted


def test_other_errors_are_not_refusals_and_reach_the_caller():
    with pytest.raises(TimeoutError):
        check_server.refused(fails_with(TimeoutError("timed out")), Refusal)


def test_another_password_in_a_url():
    url = "postgres://app:secret@127.0.0.1:5432/app"
    assert check_server.with_password(url, "wrong") == "postgres://app:wrong@127.0.0.1:5432/app"
    assert check_server.with_password(url, "") == "postgres://app@127.0.0.1:5432/app"


def test_listeners_beyond_loopback_are_found_in_proc_net_tcp():
    table = (
        "  sl  local_address rem_address   st\n"
        "   0: 0100007F:1538 00000000:0000 0A\n"  # 127.0.0.1:5432, listening
        "   1: 00000000:0016 00000000:0000 0A\n"  # *:22, ssh
        "   2: 00000000:18EB 00000000:0000 0A\n"  # *:6379, exposed
        "   3: 0B01017F:0050 0C01017F:D3A4 01\n"  # an established connection
    )
    assert list(check_server.public_listeners(table)) == [6379]
