"""fab backup, backups and restore: the commands they send, what they print, a restore's order."""

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from deploy import backups, workflow
from deploy.remote import DeployError
from deploy.targets import Target

TARGET = Target(name="test", hosts=[], server_names=["example.com"])
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
PROGRAM = TARGET.backup_program


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (("now",), f"sudo -n {PROGRAM} now"),
        (("mark", "before-20261207T093000Z"), f"sudo -n {PROGRAM} mark before-20261207T093000Z"),
        (
            ("restore", "--at", "2026-12-07T09:30:00+01:00"),
            f"sudo -n {PROGRAM} restore --at 2026-12-07T09:30:00+01:00",
        ),
        # What a user types reaches the program as one word, whatever it holds.
        (("restore", "--at", "now; id"), f"sudo -n {PROGRAM} restore --at 'now; id'"),
    ],
)
def test_the_program_runs_as_root_with_each_argument_quoted(args, command):
    assert backups.program(TARGET, *args) == command


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "0 s ago"), (59, "59 s ago"), (60, "1 min ago"), (7200, "2 h ago"), (200000, "2 d ago")],
)
def test_ages_are_said_in_their_largest_unit(seconds, said):
    assert backups.age((NOW - timedelta(seconds=seconds)).isoformat(), NOW) == said


@pytest.mark.parametrize(
    ("count", "said"),
    [(None, "?"), (999, "999 B"), (1500, "1.5 kB"), (30722929, "30.7 MB"), (5e12, "5000.0 GB")],
)
def test_sizes_are_said_as_a_person_reads_them(count, said):
    assert backups.size(count) == said


def status(kind, ok=True, age=timedelta(minutes=5), due=timedelta(hours=1), error=None):
    finished = NOW - age
    return {
        "kind": kind,
        "job": kind if kind != "database" else "database-incr",
        "ok": ok,
        "finished": finished.isoformat(),
        "seconds": 2.5,
        "last_success": finished.isoformat() if ok else (finished - timedelta(days=1)).isoformat(),
        "due_by": (finished + due).isoformat(),
        "error": error,
    }


def listing(jobs=(), archive=(), **top):
    """What the backup program lists, with ``jobs`` and ``archive`` changed, and ``top``."""
    data = {
        "now": NOW.isoformat(),
        "database": [
            {
                "label": "20261207-080000F",
                "type": "full",
                "stop": (NOW - timedelta(hours=2)).isoformat(),
                "size": 30722929,
                "stored": 3781728,
            },  # fmt: skip
        ],
        "media": [
            {
                "id": "084bd2eb",
                "time": (NOW - timedelta(minutes=30)).isoformat(),
                "tags": ["media"],
            },
            {
                "id": "835a1f6a",
                "time": (NOW - timedelta(minutes=3)).isoformat(),
                "tags": ["media", "before-restore"],
            },  # fmt: skip
        ],
        "media_repository_size": 4500,
        "errors": {},
        "status": {
            "database": status("database"),
            "media": status("media"),
            "verify": {},
            "restore-check": {},
        },
        "archive": {
            "last_archived": (NOW - timedelta(seconds=30)).isoformat(),
            "last_failed": None,
            "failed_count": 0,
            "archive_timeout": "1min",
        },  # fmt: skip
    }
    data["status"].update(jobs)
    if archive is None:
        data["archive"] = None
    else:
        data["archive"].update(archive)
    return {**data, **top}


def test_the_report_shows_each_backup_and_snapshot_with_age_and_size_and_each_job():
    lines = backups.report(listing())
    assert lines[1].split() == [
        "20261207-080000F", "full", "ended", "2", "h", "ago", "30.7", "MB", "of", "database,",
        "3.8", "MB", "stored",
    ]  # fmt: skip
    assert "media snapshots (restic; 4.5 kB stored in all):" in lines
    assert any(line.endswith("3 min ago  (before-restore)") for line in lines), lines
    assert any(line.split()[:3] == ["database", "ok", "last"] for line in lines), lines
    assert "  verify        never ran" in lines
    assert "  restore-check never ran" in lines
    assert lines[-1].startswith("WAL archive: last segment archived 30 s ago")


def test_the_report_shows_the_last_restore_points_to_restore_to_by_name():
    points = [
        {"name": f"before-2026120{n}T093000Z", "time": (NOW - timedelta(days=9 - n)).isoformat()}
        for n in range(1, 8)
    ]
    lines = backups.report(listing(points=points))
    at = lines.index("restore points (fab restore --at=NAME; the last 5 of 7):")
    assert [line.split()[0] for line in lines[at + 1 : at + 6]] == [
        point["name"] for point in points[2:]
    ]
    assert lines[at + 5].endswith("2 d ago")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({}, None),
        (
            {"jobs": {"media": status("media", ok=False, error="restic failed (exit 1): no repo")}},
            "the last media job failed: restic failed (exit 1): no repo",
        ),
        (
            {"jobs": {"database": status("database", age=timedelta(hours=2))}},
            "the database job is overdue",
        ),
        ({"jobs": {"media": {}}}, "the media backup never ran"),
        (
            {"jobs": {"restore-check": status("restore-check", ok=False, error="no column")}},
            "the last restore-check job failed: no column",
        ),
        ({"archive": {"last_failed": NOW.isoformat()}}, "WAL archiving fails since"),
        (
            {"media": None, "errors": {"media": "restic failed (exit 1): no config file"}},
            "cannot read the media: restic failed",
        ),
    ],
)
def test_a_failed_overdue_or_missing_job_and_a_failing_archive_are_problems(changes, problem):
    found = backups.problems(listing(**changes))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(problem), found


def test_an_archive_that_failed_once_and_archived_since_is_no_problem():
    earlier = (NOW - timedelta(minutes=10)).isoformat()
    assert backups.problems(listing(archive={"last_failed": earlier})) == []


def test_what_could_not_be_read_is_named_and_the_rest_shown():
    lines = backups.report(listing(archive=None, media=None, errors={"media": "restic failed"}))
    assert "cannot read the media: restic failed" in lines
    assert not any(line.startswith("WAL archive") for line in lines)


class Server:
    """A recording fake of the steps a restore takes, with the failure ``fail_at`` raises."""

    def __init__(self, monkeypatch, fail_at=None, current="20261207T090000Z"):
        self.calls = []
        self.fail_at = fail_at

        @contextlib.contextmanager
        def locked(c, target):
            self.calls.append("lock")
            try:
                yield c
            finally:
                self.calls.append("unlock")

        monkeypatch.setattr(workflow, "locked", locked)
        for module, name in [
            (workflow.remote, "maintenance"),
            (workflow.remote, "stop_programs"),
            (workflow.remote, "start_programs"),
            (workflow.remote, "check_health"),
            (workflow.backups, "check_restore"),
            (workflow.backups, "restore"),
        ]:
            monkeypatch.setattr(module, name, self.recorder(name))
        monkeypatch.setattr(workflow.remote, "current", lambda c, target: current)

    def recorder(self, name):
        def step(c, target, *args, **kwargs):
            self.calls.append(" ".join([name, *map(str, args)]))
            if name == self.fail_at:
                raise DeployError(f"{name} failed")
            return f"{name} said"

        return step


def test_a_restore_runs_in_maintenance_with_the_programs_stopped_and_checks_health(monkeypatch):
    server = Server(monkeypatch)
    lines = []
    workflow.restore(None, TARGET, "2026-12-07T09:30:00Z", log=lines.append)
    release = "20261207T090000Z"
    assert server.calls == [
        "lock",
        "check_restore 2026-12-07T09:30:00Z",
        "maintenance on",
        f"stop_programs {release}",
        "restore 2026-12-07T09:30:00Z",
        f"start_programs {release}",
        f"check_health {release}",
        "maintenance off",
        "unlock",
    ]
    assert lines[:2] == ["check_restore said", "maintenance on"]
    assert lines[-1].startswith(
        f"maintenance off: serving {release} on the data of 2026-12-07T09:30:00Z"
    )


def test_a_restore_that_cannot_be_done_changes_nothing(monkeypatch):
    server = Server(monkeypatch, fail_at="check_restore")
    with pytest.raises(DeployError, match="check_restore failed"):
        workflow.restore(None, TARGET, "2000-01-01T00:00:00Z", log=lambda line: None)
    assert server.calls == ["lock", "check_restore 2000-01-01T00:00:00Z", "unlock"]


def test_a_restore_that_fails_leaves_maintenance_on_with_the_programs_started(monkeypatch):
    server = Server(monkeypatch, fail_at="restore")
    with pytest.raises(DeployError, match="restore failed\nthe site stays in maintenance mode"):
        workflow.restore(None, TARGET, "now", log=lambda line: None)
    assert server.calls[-3:] == ["restore now", "start_programs 20261207T090000Z", "unlock"]
    assert "maintenance off" not in server.calls


def test_a_restore_with_no_release_deployed_is_refused(monkeypatch):
    server = Server(monkeypatch, current=None)
    with pytest.raises(DeployError, match="no release is current"):
        workflow.restore(None, TARGET, "now", log=lambda line: None)
    assert server.calls == ["lock", "unlock"]


def test_the_listing_is_read_as_the_program_wrote_it(monkeypatch):
    data = listing()
    commands = []

    class Connection:
        def run(self, command, **kwargs):
            commands.append(command)
            return type("Result", (), {"ok": True, "stdout": json.dumps(data), "stderr": ""})()

    assert backups.listing(Connection(), TARGET) == data
    assert commands == [f"sudo -n {PROGRAM} list"]


def offsite_listing(**changes):
    snapshots = [
        {"id": f"{n:08d}", "time": (NOW - timedelta(hours=n)).isoformat()} for n in (3, 2, 1)
    ]
    data = listing(
        offsite_repository="sftp:offsite@backup.example.com:/srv/offsite/acme_shop",
        offsite=[*snapshots, {"id": "00000000", "time": (NOW - timedelta(minutes=4)).isoformat()}],
    )
    data["status"]["offsite"] = status("offsite")
    data.update(changes)
    return data


def test_the_report_shows_the_offsite_copy_and_its_job_when_there_is_one():
    lines = backups.report(offsite_listing())
    at = lines.index(
        "off-site copy (sftp:offsite@backup.example.com:/srv/offsite/acme_shop; the last 3 of 4):"
    )
    assert [line.split()[0] for line in lines[at + 1 : at + 4]] == [
        "00000002", "00000001", "00000000",
    ]  # fmt: skip
    assert lines[at + 3].endswith("4 min ago")
    assert any(line.split()[:2] == ["offsite", "ok"] for line in lines), lines


def test_an_offsite_copy_no_longer_set_up_is_neither_shown_nor_a_problem():
    data = listing()
    data["status"]["offsite"] = status("offsite", ok=False, error="ssh: connect refused")
    assert backups.problems(data) == []
    assert not any("offsite" in line or "off-site" in line for line in backups.report(data))


def test_a_failed_or_unreachable_offsite_copy_is_a_problem():
    failed = offsite_listing()
    failed["status"]["offsite"] = status("offsite", ok=False, error="ssh: connect refused")
    assert backups.problems(failed) == ["the last offsite job failed: ssh: connect refused"]
    unreachable = offsite_listing(offsite=None, errors={"offsite": "restic failed (exit 1)"})
    assert backups.problems(unreachable) == ["cannot read the offsite: restic failed (exit 1)"]
