"""A provisioned, deployed server powered off and booted again serves on by itself."""

import json
import time

import pytest

from .conftest import NAME

pytestmark = pytest.mark.every_suite

# After boot, systemd starts supervisor, which starts the current release's programs.
SERVING_WITHIN = 60


def test_a_rebooted_server_serves_the_same_release_through_nginx(lab, web, project):
    before = project.fab("status").stdout
    lab.reboot(web)
    assert lab.ssh(web, "systemctl is-system-running").stdout.strip() == "running"
    deadline = time.monotonic() + SERVING_WITHIN
    while True:
        try:
            status, body, _ = web.get("/health/")
        except OSError as error:
            status, body = None, str(error).encode()
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200, f"{SERVING_WITHIN} s after boot /health/ answers {status}: {body[:500]}"
    assert json.loads(body)["version"].split()[0] == project.git("rev-parse", "HEAD")
    after = project.fab("status").stdout
    assert before.splitlines()[0] == after.splitlines()[0]  # the same current release
    assert after.count("RUNNING") == 2 and f"{NAME}-worker-" in after, after
