"""Which release a rollback goes back to."""

import pytest

from deploy.remote import DeployError
from deploy.workflow import previous_release

NAMES = ["20261101T000000Z", "20261102T000000Z", "20261103T000000Z"]


def test_the_previous_release_is_the_newest_older_than_the_current_one():
    assert previous_release(NAMES, "20261103T000000Z") == "20261102T000000Z"
    # After a rollback the current release is not the newest one.
    assert previous_release(NAMES, "20261102T000000Z") == "20261101T000000Z"


def test_a_release_gone_back_from_is_no_rollback_target():
    # 03 was rolled back from, to 02; after a deploy of 04 the one before it is 02.
    names = [*NAMES, "20261104T000000Z"]
    left = {"20261103T000000Z"}
    assert previous_release(names, "20261104T000000Z", left) == "20261102T000000Z"


def test_a_release_that_never_served_is_passed_over():
    # 02 was made by a deploy cut off before its switch; 03 came after it.
    served = {"20261101T000000Z", "20261103T000000Z"}
    assert previous_release(NAMES, "20261103T000000Z", set(), served) == "20261101T000000Z"


@pytest.mark.parametrize(
    ("active", "complaint"),
    [
        ("20261101T000000Z", "no release older than 20261101T000000Z that has served"),
        (None, "no release is current yet, so there is nothing to roll back"),
    ],
)
def test_with_nothing_older_the_rollback_is_refused(active, complaint):
    with pytest.raises(DeployError, match=complaint):
        previous_release(NAMES, active)
