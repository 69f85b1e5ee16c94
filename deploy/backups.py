"""The server's backups through its backup program (roles/backup), and how fab shows them.

The deploy user may run that program as root with ``now``, ``list``, ``mark``,
``restore``, ``check-restore`` and ``fetch-offsite``; the program checks every
argument. The commands are built here
and run through ``remote.run``; what fab prints is made by pure functions.
"""

import json
from datetime import datetime

from .remote import q, run
from .targets import Target


def program(target: Target, *args: str) -> str:
    """The command running the backup program as root with ``args``."""
    return " ".join(["sudo", "-n", q(target.backup_program), *(q(arg) for arg in args)])


def back_up(c, target: Target) -> str:
    """An incremental database backup and a media snapshot, now; what the program said."""
    return run(c, program(target, "now"), "the backup").strip()


def mark(c, target: Target, name: str) -> str:
    """A restore point ``name`` in the database's WAL, archived; what the program said."""
    return run(c, program(target, "mark", name), f"marking the restore point {name}").strip()


def listing(c, target: Target) -> dict:
    """The backups, snapshots, jobs' last results and WAL archive of the server."""
    return json.loads(run(c, program(target, "list"), "listing the backups"))


def check_backup(c, target: Target) -> str:
    """The newest backup restored into a scratch cluster and checked by the project."""
    return run(c, program(target, "check-restore"), "the restore check").strip()


def fetch_offsite(c, target: Target) -> str:
    """Both repositories replaced by the newest off-site snapshot of them."""
    return run(c, program(target, "fetch-offsite"), "fetching the off-site copy").strip()


def check_restore(c, target: Target, at: str) -> str:
    """What a restore to ``at`` would start from; DeployError when it cannot."""
    return run(c, program(target, "restore", "--check", "--at", at), "the restore's check").strip()


def restore(c, target: Target, at: str) -> str:
    """The database to ``at`` and the media to the snapshot before it; the app is stopped."""
    return run(c, program(target, "restore", "--at", at), f"the restore to {at}").strip()


def age(then: str, now: datetime) -> str:
    """How long before ``now`` the ISO time ``then`` was, in its largest unit."""
    seconds = max(0, int((now - datetime.fromisoformat(then)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def size(count: int | None) -> str:
    """Bytes as a person reads them."""
    if count is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def set_up(kind: str, data: dict) -> bool:
    """Whether the server runs ``kind``'s job: the off-site copy only once it is set up."""
    return kind != "offsite" or "offsite_repository" in data


def problems(data: dict) -> list[str]:
    """What is wrong with the backups: a failed, overdue or never-run job, a failing archive."""
    now = datetime.fromisoformat(data["now"])
    found = []
    for kind in ("database", "media", "verify", "restore-check", "offsite"):
        if not set_up(kind, data):
            continue
        status = data["status"].get(kind) or {}
        if not status:
            # Provisioning runs the first backups; the checks wait their turn.
            if kind in ("database", "media"):
                found.append(f"the {kind} backup never ran")
        elif not status["ok"]:
            found.append(f"the last {kind} job failed: {status['error']}")
        elif status["due_by"] and now > datetime.fromisoformat(status["due_by"]):
            found.append(
                f"the {kind} job is overdue: it last succeeded {age(status['last_success'], now)}"
            )
    found += [f"cannot read the {key}: {error}" for key, error in data["errors"].items()]
    archive = data["archive"] or {"last_failed": None, "last_archived": None}
    failed, archived = archive["last_failed"], archive["last_archived"]
    if failed and (
        not archived or datetime.fromisoformat(failed) > datetime.fromisoformat(archived)
    ):
        found.append(f"WAL archiving fails since {archive['last_failed']}")
    return found


def report(data: dict) -> list[str]:
    """The lines of fab backups: backups and snapshots with age and size, jobs, archive."""
    now = datetime.fromisoformat(data["now"])
    lines = ["database backups (pgBackRest; each needs the full one before it):"]
    for backup in data["database"] or []:
        lines.append(
            f"  {backup['label']:<34} {backup['type']:<5} ended {age(backup['stop'], now):<12}"
            f" {size(backup['size'])} of database, {size(backup['stored'])} stored"
        )
    lines.append(f"media snapshots (restic; {size(data['media_repository_size'])} stored in all):")
    for snapshot in data["media"] or []:
        tags = ", ".join(tag for tag in snapshot["tags"] if tag != "media")
        lines.append(
            f"  {snapshot['id']}  {snapshot['time'][:19]}Z  {age(snapshot['time'], now)}"
            + (f"  ({tags})" if tags else "")
        )
    if "offsite_repository" in data:
        snapshots = data.get("offsite") or []
        lines.append(
            f"off-site copy ({data['offsite_repository']}; the last 3 of {len(snapshots)}):"
        )
        for snapshot in snapshots[-3:]:
            lines.append(
                f"  {snapshot['id']}  {snapshot['time'][:19]}Z  {age(snapshot['time'], now)}"
            )
    points = data.get("points") or []
    lines.append(f"restore points (fab restore --at=NAME; the last 5 of {len(points)}):")
    for point in points[-5:]:
        lines.append(f"  {point['name']:<34} {point['time'][:19]}Z  {age(point['time'], now)}")
    lines.append("jobs:")
    for kind, status in data["status"].items():
        if not set_up(kind, data):
            continue
        if not status:
            lines.append(f"  {kind:<13} never ran")
            continue
        result = "ok" if status["ok"] else "FAILED"
        success = status["last_success"]
        lines.append(
            f"  {kind:<13} {result:<6} last run {age(status['finished'], now)} ({status['job']}, "
            f"{status['seconds']} s); last success {age(success, now) if success else 'never'}"
        )
    if archive := data["archive"]:
        archived = archive["last_archived"]
        lines.append(
            f"WAL archive: last segment archived {age(archived, now) if archived else 'never'}, "
            f"a segment at most {archive['archive_timeout']} after a commit"
        )
    lines += [f"cannot read the {key}: {error}" for key, error in data["errors"].items()]
    return lines
