"""What a deploy does around its migrations: refuse, restore point, maintenance for breaking ones.

The decision is a pure function checked as a table; the order of the steps
is checked on a recording fake of the server's steps (remote, backups).
make e2e runs both against a real server.
"""

import contextlib
from pathlib import Path

import pytest

from deploy import workflow
from deploy.build import Build
from deploy.remote import DeployError
from deploy.targets import Target
from deploy.workflow import MigrationGuard, migration_guard

TARGET = Target(name="test", hosts=[], server_names=["example.com"])
BUILD = Build(path=Path("dist/release.tar.gz"), sha="abc1234", digest="0" * 64)
OLD, NEW = "20261207T090000Z", "20261207T093000Z"
PENDING = ["articles.0003_remove_article_body"]
REFUSAL = "1 operation(s) of the pending migrations would break the release ..."


@pytest.mark.parametrize(
    ("pending", "refusal", "serving", "allowed", "guard"),
    [
        ([], None, True, False, MigrationGuard()),
        (PENDING, None, True, False, MigrationGuard(restore_point=True)),
        # Nothing serves on a first deploy: nothing to break.
        (PENDING, REFUSAL, False, False, MigrationGuard(restore_point=True)),
        (PENDING, REFUSAL, True, True, MigrationGuard(maintenance=True, restore_point=True)),
    ],
)
def test_the_guard_of_the_migrations(pending, refusal, serving, allowed, guard):
    assert migration_guard(pending, refusal, serving, allowed) == guard


def test_breaking_migrations_are_refused_unless_let_through_naming_the_flag():
    guard = migration_guard(PENDING, REFUSAL, serving=True, allow_breaking=False)
    assert guard.refusal.startswith(
        "the migration check refused the release, so nothing was migrated: 1 operation(s)"
    )
    assert "--allow-breaking-migrations" in guard.refusal
    assert not guard.maintenance and not guard.restore_point


class Server:
    """Records the steps a deploy takes; ``fail_at`` (a step's name) raises DeployError."""

    STEPS = [
        "check_environment", "make_folders", "unpack", "virtualenv", "manage", "keep_static",
        "finish", "remove", "stop_worker", "start_worker", "start", "stop", "check_health",
        "install_site", "switch", "prune", "maintenance",
    ]  # fmt: skip

    def __init__(self, monkeypatch, pending=(), refusal=None, fail_at=None):
        self.calls = []
        self.fail_at = fail_at
        self.current = OLD

        @contextlib.contextmanager
        def locked(c, target):
            yield c

        monkeypatch.setattr(workflow, "locked", locked)
        for name in self.STEPS:
            monkeypatch.setattr(workflow.remote, name, self.recorder(name))
        for name in ("back_up", "mark"):
            monkeypatch.setattr(workflow.backups, name, self.recorder(name))
        plan = (list(pending), refusal)
        monkeypatch.setattr(workflow.remote, "migration_plan", lambda c, target, path: plan)
        monkeypatch.setattr(workflow.remote, "current", lambda c, target: self.current)
        monkeypatch.setattr(workflow.remote, "release_name", lambda c, target: NEW)
        monkeypatch.setattr(workflow.remote, "stop_others", lambda c, target, keep: [OLD])

    def recorder(self, name):
        def step(c, target, *args, **kwargs):
            shown = [arg for arg in args if isinstance(arg, str) and not arg.startswith("/")]
            self.calls.append(" ".join([name, *shown]))
            if name == "switch":
                self.current = args[0]
            if name == self.fail_at or " ".join([name, *shown]) == self.fail_at:
                raise DeployError(f"{name} failed")
            return f"{name} said"

        return step

    def put(self, local, remote):
        self.calls.append("put")

    def deploy(self, allow_breaking=False):
        lines = []
        workflow.deploy(self, TARGET, BUILD, log=lines.append, allow_breaking=allow_breaking)
        return lines


def migrated(calls):
    return [call for call in calls if call.startswith("manage migrate")]


def test_a_deploy_with_pending_migrations_marks_a_restore_point_just_before_them(monkeypatch):
    server = Server(monkeypatch, pending=PENDING)
    lines = server.deploy()
    at = server.calls.index(f"mark before-{NEW}")
    assert server.calls[at + 1] == f"manage migrate --noinput the migrations {NEW}"
    assert "mark said" in lines
    assert "maintenance on" not in server.calls


def test_a_deploy_with_nothing_to_migrate_marks_no_restore_point(monkeypatch):
    server = Server(monkeypatch)
    server.deploy()
    assert not any(call.startswith("mark") for call in server.calls)


def test_a_refused_migration_runs_nothing_and_leaves_nothing(monkeypatch):
    server = Server(monkeypatch, pending=PENDING, refusal=REFUSAL)
    with pytest.raises(DeployError, match="refused the release, so nothing was migrated"):
        server.deploy()
    assert migrated(server.calls) == []
    assert server.calls[-1] == f"remove {NEW}"
    assert not any(call.startswith(("mark", "back_up", "maintenance")) for call in server.calls)


def test_breaking_migrations_let_through_run_after_a_backup_behind_maintenance(monkeypatch):
    server = Server(monkeypatch, pending=PENDING, refusal=REFUSAL)
    server.deploy(allow_breaking=True)
    calls = server.calls
    order = [
        "back_up",
        "maintenance on",
        f"stop_worker {OLD}",
        f"mark before-{NEW}",
        f"manage migrate --noinput the migrations {NEW}",
        f"stop_worker {OLD}",  # the handover's, as on every deploy: already stopped
        f"start {NEW}",
        f"switch {NEW}",
        "maintenance off",
        "prune",
    ]
    assert [call for call in calls if call in order] == order, calls
    # The old worker stays stopped: its tasks wait for the new release's.
    assert f"start_worker {OLD}" not in calls


def test_a_breaking_deploy_that_fails_stays_in_maintenance_and_names_the_way_back(monkeypatch):
    server = Server(monkeypatch, pending=PENDING, refusal=REFUSAL, fail_at="check_health")
    with pytest.raises(DeployError) as failed:
        server.deploy(allow_breaking=True)
    message = str(failed.value)
    assert message.startswith("check_health failed\nThe site stays in maintenance mode")
    assert f"fab restore --at=before-{NEW}" in message
    assert "maintenance off" not in server.calls
    assert f"start_worker {OLD}" not in server.calls
    assert server.calls[-1] == f"remove {NEW}" and server.current == OLD


def test_a_breaking_deploy_failing_after_the_switch_goes_back_in_maintenance(monkeypatch):
    server = Server(monkeypatch, pending=PENDING, refusal=REFUSAL)

    def check_health(c, target, release, seconds=30, through_current=False):
        server.calls.append(f"check_health {release}")
        if release == NEW and through_current:
            raise DeployError("check_health failed")

    monkeypatch.setattr(workflow.remote, "check_health", check_health)
    with pytest.raises(DeployError, match="rolled back to .*\nThe site stays in maintenance"):
        server.deploy(allow_breaking=True)
    assert server.current == OLD
    assert "maintenance off" not in server.calls
    assert f"start_worker {OLD}" not in server.calls


def test_an_ordinary_failed_deploy_gives_the_queue_back_to_the_old_worker(monkeypatch):
    server = Server(monkeypatch, pending=PENDING, fail_at="check_health")
    with pytest.raises(DeployError, match="check_health failed$"):
        server.deploy()
    assert f"start_worker {OLD}" in server.calls
