"""A provisioned, deployed server powered off and booted again serves on by itself."""

import json
import time

import pytest

from .conftest import NAME

pytestmark = pytest.mark.every_suite

# After boot, systemd starts supervisor, which starts the current release's programs.
SERVING_WITHIN = 60


def serving(lab, web) -> tuple[int | None, bytes, str]:
    """(/health/'s status, its body, supervisor's view of the programs) right now."""
    try:
        status, body, _ = web.get("/health/")
    except OSError as error:
        status, body = None, str(error).encode()
    return status, body, lab.ssh(web, f"supervisorctl status | grep -F {NAME}- || true").stdout


def test_a_rebooted_server_serves_the_same_release_through_nginx(lab, web, project):
    before = project.fab("status").stdout
    lab.reboot(web)
    assert lab.ssh(web, "systemctl is-system-running").stdout.strip() == "running"
    # Up means /health/ answers through nginx and supervisor counts both programs as
    # running (it waits their startsecs first).
    deadline = time.monotonic() + SERVING_WITHIN
    while True:
        status, body, programs = serving(lab, web)
        up = status == 200 and programs.count("RUNNING") == 2
        if up or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert up, f"{SERVING_WITHIN} s after boot: /health/ {status} {body[:300]}\n{programs}"
    assert json.loads(body)["version"].split()[0] == project.git("rev-parse", "HEAD")
    after = project.fab("status").stdout
    assert before.splitlines()[0] == after.splitlines()[0]  # the same current release
    assert f"{NAME}-worker-" in after and f"{NAME}-web-" in after, after


def test_the_backups_go_on_after_a_reboot(lab, web, project):
    # Runs after the reboot above: the timers came back, and the WAL reaches the archive.
    timers = lab.ssh(web, f"systemctl list-timers --all --no-legend '{NAME}-backup-*'").stdout
    jobs = ("database-full", "database-incr", "media", "verify", "restore-check", "offsite")
    for job in jobs:
        assert f"{NAME}-backup-{job}.timer" in timers, timers
    active = lab.ssh(web, f"systemctl is-active '{NAME}-backup-*.timer'").stdout.split()
    assert active == ["active"] * len(jobs), active
    lab.ssh(web, f"runuser -u postgres -- pgbackrest --stanza={NAME} check")
    assert project.fab("backup").returncode == 0
    assert project.fab("backups").returncode == 0
