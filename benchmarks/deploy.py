"""Benchmark of deploys (make bench-deploy): our order against the naive one.

    make bench-deploy        (needs root, like make e2e; see the README)

Starts the lab's web server (provisioning/test/lab) and provisions it with
make e2e's provisioning scenario, then, on the lab's controller side, for each
strategy:

- cold deploy: build + deploy onto a server with no release and no virtualenv;
- warm deploy: the same again (requirements unchanged);
- rollback to the previous release;
- a deploy and a rollback again, while a load generator keeps requesting
  /health/ and /api/articles/ through nginx over HTTPS: failed requests and the longest
  time without a successful response.

Then the backups of that server (benchmarks/backups.py): backup times and
sizes of the 10,000-article database, restore time (RTO) and the most
committed data a crash could lose (RPO).

"ours" is deploy/workflow.py: start the new release beside the old one,
check its health, switch, stop the old one. "naive" is the order of the
original specification: stop the old release, link the new one, start it.
Times are the wall-clock time of the build and deploy steps (what `fab
deploy` does, minus fab's own start). Prints a table and writes
benchmarks/results/deploy.json.
"""

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from fabric import Connection

from benchmarks import backups
from benchmarks.load import Background
from benchmarks.record import record
from deploy import remote, workflow
from deploy.build import build
from deploy.hostkeys import verify_host_keys
from fabfile import TARGETS
from tests.e2e.lab import ACME_ROOT, LAB, Lab

ROOT = Path(__file__).resolve().parent.parent
# Requested through the web server's nginx during the deploys and rollbacks under load.
PAGES = ["/health/", "/api/articles/"]


class Clock:
    """Times an action, and when within it the new release became ``current``."""

    def __init__(self):
        self.switched = None

    def log(self, message):
        # The deploy steps report progress through ``log``; only the switch matters here.
        if message.startswith("current is now"):
            self.switched = time.monotonic()

    def time(self, action):
        """(seconds in all, seconds until the switch) of ``action(log)``."""
        self.switched = None
        started = time.monotonic()
        action(self.log)
        ended = time.monotonic()
        return round(ended - started, 2), round((self.switched or ended) - started, 2)


def naive_deploy(c, target, made, log):
    """The specification's order: stop the old release, link the new one, start it."""
    previous = remote.current(c, target)
    release = workflow.prepare(c, target, made, log=lambda message: None).release
    if previous:
        remote.stop(c, target, previous)
    remote.switch(c, target, release)
    remote.install_site(c, target)
    remote.start(c, target, release)
    remote.check_health(c, target, release)
    # Only now does the site answer again.
    log(f"current is now {release}")


def naive_rollback(c, target, log):
    active = remote.current(c, target)
    previous = workflow.previous_release(remote.releases(c, target), active)
    remote.stop(c, target, active)
    remote.switch(c, target, previous)
    remote.start(c, target, previous)
    remote.check_health(c, target, previous)
    log(f"current is now {previous}")


def ours_deploy(c, target, made, log):
    workflow.deploy(c, target, made, log=log)


def ours_rollback(c, target, log):
    workflow.rollback(c, target, log=log)


STRATEGIES = {
    "naive (stop, link, start)": (naive_deploy, naive_rollback),
    "ours (start beside, switch)": (ours_deploy, ours_rollback),
}


def reset(c, target):
    """No release, no virtualenv: the next deploy is a cold one."""
    for release in remote.releases(c, target):
        remote.stop(c, target, release)
    c.run(f"rm -rf {target.root}/current {target.root}/releases/* {target.root}/venvs/*")


def under_load(action, server):
    """((seconds, until switch), load report) of ``action(log)``, pages requested all along."""
    # Over HTTPS, as visitors come: the certificate is the lab's ACME CA's.
    pages = [f"https://{server.name}{path}" for path in PAGES]
    with Background(pages, connect=server.address, cafile=ACME_ROOT) as load:
        time.sleep(1)  # the load is steady before the action starts
        seconds = Clock().time(action)
        time.sleep(1)
    return seconds, load.report


def measure_strategy(c, target, server, name, deploy, rollback):
    """One row of the table: the timings on an idle server, then the same under load."""

    def deploy_build(log):
        # The working tree as it is, this run's results included: a throw-away server.
        deploy(c, target, build(target, ROOT / "dist", dirty=True), log)

    def roll_back(log):
        rollback(c, target, log)

    reset(c, target)
    cold, _ = Clock().time(deploy_build)
    warm, warm_switch = Clock().time(deploy_build)
    back, back_switch = Clock().time(roll_back)
    print(f"{name}: cold {cold} s, warm {warm} s, rollback {back} s", file=sys.stderr)
    _, deploy_load = under_load(deploy_build, server)
    _, rollback_load = under_load(roll_back, server)
    return {
        "strategy": name,
        "cold_deploy_s": cold,
        "warm_deploy_s": warm,
        "warm_deploy_current_after_s": warm_switch,
        "rollback_s": back,
        "rollback_current_after_s": back_switch,
        "under_load": {
            "deploy": deploy_load,
            "rollback": rollback_load,
        },
    }


def report(rows):
    header = (
        f"{'strategy':<28} {'cold s':>7} {'warm s':>13} {'rollback s':>13} "
        f"{'failed under load':>26} {'longest gap ms':>15}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        warm = f"{row['warm_deploy_s']} ({row['warm_deploy_current_after_s']})"
        back = f"{row['rollback_s']} ({row['rollback_current_after_s']})"
        deploy, rollback = row["under_load"]["deploy"], row["under_load"]["rollback"]
        failed = f"{deploy['failed']}/{deploy['requests']}, "
        failed += f"{rollback['failed']}/{rollback['requests']}"
        gap = f"{deploy['longest_gap_ms']:.0f}, {rollback['longest_gap_ms']:.0f}"
        print(
            f"{row['strategy']:<28} {row['cold_deploy_s']:>7} {warm:>13} {back:>13} "
            f"{failed:>26} {gap:>15}"
        )
    print("warm, rollback: seconds in all (seconds until the new release was current);")
    print("under load: a deploy, then a rollback, while pages are requested all along")


def on_server():
    """Runs on the lab's controller side, which reaches the web server's sshd and nginx."""
    lab = Lab()
    server = lab["web1"]
    # Deploys log in as the deploy user provisioning made (deploy_user_name).
    login = f"deploy@{server.address}"
    # The load asks /health/ through nginx, from the controller side.
    target = replace(
        TARGETS["production"],
        name="bench",
        production=False,
        hosts=[login],
        server_names=[server.name],
        health_allow=[lab.controller],
    )
    c = Connection(login, connect_kwargs={"key_filename": lab.ssh_key})
    verify_host_keys(c, lab.known_hosts)
    rows = [measure_strategy(c, target, server, name, *steps) for name, steps in STRATEGIES.items()]
    report(rows)
    figures = backups.measure(c, target, lab, server)
    print()
    backups.report(figures)
    path = record("deploy", {"pages": PAGES, "rows": rows, "backups": figures})
    print(f"written to {path.relative_to(ROOT)}")


def main():
    if sys.argv[1:] == ["--on-server"]:
        return on_server()
    env = {**os.environ, "E2E_KEEP": "1"}
    env.setdefault("E2E_VENV", sys.prefix)
    commands = [
        # make e2e's provisioning of the web server, and nothing more.
        [ROOT / "provisioning" / "test" / "run", "-k", "provision_all_sets_up_a_fresh_server"],
        [LAB, "exec", "controller", sys.executable, "-m", "benchmarks.deploy", "--on-server"],
    ]
    try:
        for command in commands:
            # Our own scripts, with fixed arguments.
            subprocess.run(command, cwd=ROOT, env=env, check=True)  # noqa: S603
    except subprocess.CalledProcessError as failure:
        sys.exit(f"bench-deploy: {failure.cmd[0]} failed (exit {failure.returncode})")
    finally:
        subprocess.run([LAB, "down"], cwd=ROOT, check=False)  # noqa: S603


if __name__ == "__main__":
    main()
