"""Which release a rollback goes back to."""

import pytest

from deploy.remote import DeployError
from deploy.workflow import previous_release

NAMES = ["20261101T000000Z", "20261102T000000Z", "20261103T000000Z"]


def test_the_previous_release_is_the_newest_older_than_the_current_one():
    assert previous_release(NAMES, "20261103T000000Z") == "20261102T000000Z"
    # After a rollback the current release is not the newest one.
    assert previous_release(NAMES, "20261102T000000Z") == "20261101T000000Z"


@pytest.mark.parametrize("active", ["20261101T000000Z", None])
def test_with_nothing_older_the_rollback_is_refused(active):
    with pytest.raises(DeployError, match="no release older than"):
        previous_release(NAMES, active)
