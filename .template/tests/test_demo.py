"""The README's first command: a demo project, running, with an admin user."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import TEMPLATE_ROOT, environ


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def get(url, data=None, headers=None):
    # Only ever a loopback URL built by the test.
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def test_demo_creates_and_serves_a_project(tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as output:
        demo = subprocess.Popen(
            [TEMPLATE_ROOT / ".template" / "bin" / "demo"],
            env=environ(DEMO_DIR=str(tmp_path / "demo"), DEMO_PORT=str(port)),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        banner = re.compile(r"user: admin\s+password: (\S+)")
        password = wait_for(
            lambda: (m := banner.search(log.read_text())) and m.group(1), 600, "the banner"
        )

        def healthy():
            try:
                return get(f"http://127.0.0.1:{port}/health/")
            except OSError:
                return None

        status, health = wait_for(healthy, 60, "the server")
        assert status == 200 and health["status"] == "ok"

        body = json.dumps({"username": "admin", "password": password}).encode()
        _, token = get(
            f"http://127.0.0.1:{port}/api/auth/token/", body, {"Content-Type": "application/json"}
        )
        _, me = get(
            f"http://127.0.0.1:{port}/api/users/me/",
            headers={"Authorization": f"Token {token['token']}"},
        )
        assert me["username"] == "admin" and me["is_staff"] is True
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)


def test_demo_never_overwrites_an_existing_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = subprocess.run(
        [TEMPLATE_ROOT / ".template" / "bin" / "demo"],
        env=environ(DEMO_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "exists already" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"
