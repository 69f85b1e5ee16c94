"""End to end: a generated project's own `make e2e`, on the lab's throw-away Debian servers.

`make e2e` (provisioning/test/run) boots servers with systemd as PID 1, each in
a network namespace of its own, beside an ACME CA (Pebble), then runs the
project's tests/e2e on them: provisioning twice, the service checks, deploys
under load (good, broken on purpose, rolled back, two at once), HTTPS with the
CA's certificates, secrets rotated under load, a reboot, attacks, and the
server checks broken one by one. The whole story runs on Debian 12; on Debian
13 the scenarios marked every_suite (the lab, provisioning, a deploy, HTTPS
and a reboot), from a cache of
server file systems made anew, so the cold path is proven on every run too.
Needs root; .ci/run runs it.
"""

import os
import re
import tempfile

import pytest
from conftest import PROJECT, VENV_BIN, commit, generate, run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts and nspawn"),
]

# A scenario's line (not a stage's): its outcome ("failed in setup" counts as failed),
# its time and its name.
SCENARIO = re.compile(r"^e2e: (passed|failed|skipped)(?: in \w+)? +[\d.]+ s  (.+)$", re.M)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = generate(tmp_path_factory.mktemp("e2e"))
    # make e2e deploys the project's last commit, as `fab deploy` would.
    commit(project, "A new project")
    return project


def make_e2e(project, *args, **env):
    result = run(
        ["make", "e2e", f"VENV={VENV_BIN.parent}", *args],
        cwd=project,
        timeout=2400,
        check=False,
        **env,
    )
    print(result.stdout, result.stderr)  # the scenario lines and stage times, in the report
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    scenarios = SCENARIO.findall(result.stdout)
    assert scenarios and all(outcome == "passed" for outcome, _ in scenarios), scenarios
    assert "e2e: passed" in result.stdout
    assert f"{PROJECT}-lab" not in run(["ip", "netns", "list"], cwd=project).stdout
    return result.stdout + result.stderr, [name for _, name in scenarios]


def test_make_e2e_runs_the_whole_story_on_debian_12(project):
    output, scenarios = make_e2e(project, E2E_SUITE="bookworm")
    for expected in (
        "provision all sets up a fresh server",
        "a second run changes nothing",
        "a deploy under load fails no request",
        "rollback serves the previous version under load",
        "the site serves https with a certificate from the acme ca",
        "a forced renewal under load fails no request",
        "testssl finds nothing of medium severity or above",
        "rotating every secret fails no request and the old values are refused",
        "a rebooted server serves the same release through nginx",
        "every check was seen failing",
    ):
        assert expected in scenarios, scenarios
    assert len(scenarios) >= 30
    assert re.search(r"e2e:   web1 +127\.1\.0\.11 +\d+ MB +\d+ MB", output)


def test_make_e2e_provisions_deploys_and_reboots_on_debian_13_from_a_cold_cache(project):
    with tempfile.TemporaryDirectory(dir="/var/tmp") as cache:
        output, scenarios = make_e2e(
            project, "E2E_ARGS=-m every_suite", E2E_SUITE="trixie", E2E_CACHE=cache
        )
    assert "build-root: debootstrap trixie" in output
    for expected in (
        "servers boot debian with systemd as pid 1",
        "a second run changes nothing",
        "a first deploy serves health and the api through nginx",
        "the site serves https with a certificate from the acme ca",
        "a rebooted server serves the same release through nginx",
    ):
        assert expected in scenarios, scenarios
    assert "rollback serves the previous version under load" not in scenarios
