#!/usr/bin/python3 -I
"""Backups of the project's database (pgBackRest) and uploads (restic), run as root.

The timers (roles/backup) start ``run JOB``; the deploy user may start ``now``,
``list``, ``mark NAME``, ``restore --at TIME``, ``restore --check --at TIME``,
``check-restore`` and ``fetch-offsite`` through sudo (fab backup, fab backups,
fab deploy, fab restore, fab check-backup, fab fetch-backups). Its settings come
from backup.json next to it (root-owned, written by provisioning), never from the
arguments or the environment. Subcommands:

  run database-full|database-incr|media|verify|restore-check|offsite
                      one scheduled job; its result is recorded in the status
                      folder, which /health/ and fab backups read; offsite: a
                      restic snapshot of both repositories on another host
  fetch-offsite       both repositories replaced by the newest off-site snapshot
                      (the replaced ones kept beside them), for a restore after
                      the server lost them
  check-restore       the restore-check job now: the newest backup and all the
                      archived WAL restored into a scratch cluster, the project's
                      ./manage check_database run against it, the cluster removed
  now                 an incremental database backup and a media snapshot, now
  list                JSON: the database's backups, the media snapshots, the restore
                      points, each job's last result, the WAL archive's state
  mark NAME           a named restore point in the WAL, archived at once (a deploy
                      makes one before it migrates)
  restore --at TIME   the database to TIME (point in time, from the WAL archive;
                      "now": all that was committed; or a restore point's name)
                      and the media to the last snapshot at or before it; --check
                      only says what it would restore from. The app must be
                      stopped first.

A refusal or failure prints one line to stderr, exit 1.
"""

import argparse
import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

# A command and the variables to add to its fixed environment.
Runner = Callable[..., subprocess.CompletedProcess]
PGBACKREST = "/usr/bin/pgbackrest"
RESTIC = "/usr/bin/restic"
PSQL = "/usr/bin/psql"
PG_CTLCLUSTER = "/usr/bin/pg_ctlcluster"
RUNUSER = "/usr/sbin/runuser"
SYSTEMCTL = "/usr/bin/systemctl"
SH = "/bin/sh"
# What each job records its result as: both database jobs are "database".
JOBS = {
    "database-full": "database",
    "database-incr": "database",
    "media": "media",
    "verify": "verify",
    "restore-check": "restore-check",
    "offsite": "offsite",
}
STATUS_KINDS = ("database", "media", "verify", "restore-check", "offsite")
# How long a restore waits for PostgreSQL to replay the WAL up to its target
# and promote; and how long anything waits for another job's lock.
RECOVERY_SECONDS = 1800
LOCK_SECONDS = 3600
# Restore point names go into SQL and sudo's argument match: no quote, no space.
POINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
POINTS_KEPT = 100


class Failed(Exception):
    """A refusal, or a command that failed; the message says which and what to do."""


def run_command(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a fixed command with a fixed environment (plus ``env``), capturing its output.

    A secret a command needs goes in ``env``, never in its arguments, which
    every user of the server may read.
    """
    fixed = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "TZ": "UTC"}
    return subprocess.run(  # noqa: S603 - fixed absolute programs, arguments checked by callers
        args,
        capture_output=True,
        text=True,
        check=False,
        env={**fixed, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class Config:
    """What is backed up and where to, from the root-owned JSON next to this file."""

    project: str
    stanza: str
    postgresql_version: str
    postgresql_cluster: str
    media_root: str
    media_repository: str
    media_password_file: str
    media_keep: dict
    status_dir: str
    status_group: str
    overdue_after: dict
    # The restore check: the scratch cluster's folder (emptied before and after
    # each check), and the app whose check runs against it.
    restore_check_dir: str
    app_user: str
    app_current: str
    env_file: str
    # The off-site copy: a restic repository URL (sftp:USER@HOST:/PATH, s3:...)
    # or empty for none, the snapshots kept, and a root-only file of the
    # variables restic needs for it (an object store's keys).
    database_repository: str = "/var/lib/pgbackrest"
    offsite_repository: str = ""
    offsite_keep: dict = field(default_factory=dict)
    offsite_env_file: str = ""
    postgresql_port: int = 5432
    run: Runner = field(default=run_command, compare=False)  # tests replace these
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False)
    lock_path: str = ""
    sockets_path: str = ""

    @property
    def lock_file(self) -> str:
        return self.lock_path or f"/run/{self.project}-backup.lock"

    @property
    def scratch_sockets(self) -> str:
        """The scratch cluster's socket folder: its only way in, no TCP port."""
        return self.sockets_path or f"/run/{self.project}-restore-check"


def load_config(path: Path | None = None) -> Config:
    """Read backup.json next to this file (``path`` is for tests only)."""
    path = path or Path(__file__).resolve().with_name("backup.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Config(**data)
    except (OSError, ValueError, TypeError) as error:
        raise Failed(f"cannot read {path}: {error}; re-run provisioning") from error


# The commands, built without running anything.


def pgbackrest(config: Config, *args: str) -> list[str]:
    """pgBackRest on the project's stanza, as postgres (whose the cluster's files are)."""
    return [RUNUSER, "-u", "postgres", "--", PGBACKREST, f"--stanza={config.stanza}", *args]


def restic(config: Config, *args: str, repository: str = "") -> list[str]:
    """restic on the media repository (root: it reads and restores every owner's files).

    ``repository``: another one with the same key, the off-site copy.
    """
    return [
        RESTIC,
        f"--repo={repository or config.media_repository}",
        f"--password-file={config.media_password_file}",
        f"--cache-dir=/var/cache/{config.project}-backup/restic",
        "--quiet",
        *args,
    ]


def offsite(config: Config, *args: str) -> list[str]:
    """restic on the off-site repository."""
    if not config.offsite_repository:
        raise Failed("no off-site copy is set up: set backup_offsite_repository and provision")
    return restic(config, *args, repository=config.offsite_repository)


def shell_variables(path: str, what: str) -> dict[str, str]:
    """The NAME=VALUE lines of a file provisioning wrote, each value quoted for the shell.

    ``what`` names the file in the error when it cannot be read.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise Failed(f"cannot read {what}: {error}; re-run provisioning") from error
    pairs = (
        shlex.split(line)[0].partition("=")
        for line in lines
        if "=" in line and not line.lstrip().startswith("#")
    )
    return {name: value for name, _, value in pairs}


def offsite_env(config: Config) -> dict[str, str]:
    """The variables of the off-site store (its keys), from their root-only file."""
    if not config.offsite_env_file:
        return {}
    return shell_variables(config.offsite_env_file, "the off-site store's settings")


def keep_options(keep: dict) -> list[str]:
    """restic forget's --keep-UNIT=N options for a retention like backup_media_keep."""
    return [f"--keep-{unit}={count}" for unit, count in sorted(keep.items())]


def offsite_forget(config: Config) -> list[str]:
    """restic forget --prune on the off-site copy, with backup_offsite_keep."""
    return offsite(config, "forget", "--tag=offsite", "--prune", *keep_options(config.offsite_keep))


def psql(config: Config, sql: str, database: str = "postgres", host: str = "") -> list[str]:
    """One statement through psql as postgres, its result unaligned with no headers.

    ``host``: a socket folder, for the scratch cluster; the real one by default.
    """
    where = ["-h", host] if host else []
    return [RUNUSER, "-u", "postgres", "--", PSQL, "-X", "-At", "-v", "ON_ERROR_STOP=1",
            *where, "-p", str(config.postgresql_port), "-d", database, "-c", sql]  # fmt: skip


def cluster(config: Config, action: str) -> list[str]:
    """pg_ctlcluster ACTION for the project's cluster (systemctl underneath on systemd)."""
    return [PG_CTLCLUSTER, config.postgresql_version, config.postgresql_cluster, action]


def media_forget(config: Config) -> list[str]:
    """restic forget --prune with the retention of backup_media_keep."""
    return restic(config, "forget", "--tag=media", "--prune", *keep_options(config.media_keep))


def job_commands(config: Config, job: str) -> list[list[str]]:
    """The commands of one scheduled job, in order."""
    if job == "database-full":
        return [pgbackrest(config, "--type=full", "backup")]
    if job == "database-incr":
        # Without a full backup yet pgBackRest makes a full one.
        return [pgbackrest(config, "--type=incr", "backup")]
    if job == "media":
        return [restic(config, "backup", "--tag=media", config.media_root), media_forget(config)]
    if job == "verify":
        copy = [offsite(config, "check")] if config.offsite_repository else []
        return [pgbackrest(config, "verify"), restic(config, "check"), *copy]
    if job == "restore-check":
        return []  # not a list of commands: see restore_check
    if job == "offsite":
        # Both repositories as files: pgBackRest's and restic's files are
        # written once and never changed, so each copy sends only the new ones.
        folders = [config.database_repository, config.media_repository]
        return [offsite(config, "backup", "--tag=offsite", *folders), offsite_forget(config)]
    raise Failed(f"no job {job!r}: one of {', '.join(JOBS)}")


def failure(args: list[str], result: subprocess.CompletedProcess) -> Failed:
    """The error for a command that failed, with the end of what it printed on one line."""
    output = f"{result.stdout or ''}\n{result.stderr or ''}"
    lines = [line.strip() for line in output.splitlines() if line.strip()][-6:]
    program = Path(args[4] if args[0] == RUNUSER else args[0]).name
    return Failed(
        f"{program} failed (exit {result.returncode}): {' | '.join(lines) or 'no output'}"
    )


def run_checked(config: Config, args: list[str], env: dict | None = None) -> str:
    """Run ``args`` (with ``env`` added); its output, or Failed with the end of it."""
    result = config.run(args, env=env) if env else config.run(args)
    if result.returncode != 0:
        raise failure(args, result)
    return result.stdout


@contextlib.contextmanager
def exclusive(config: Config, seconds: float = LOCK_SECONDS) -> Iterator[None]:
    """One job or restore at a time; wait (at most ``seconds``) for the one running."""
    with open(config.lock_file, "a") as lock:  # noqa: PTH123 - flock needs the descriptor
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Failed(
                        f"another backup job held {config.lock_file} for {seconds} s"
                    ) from None
                time.sleep(1)
        yield


# The status folder: one JSON file per kind, root-written, readable by the app's group.


def write_atomically(path: Path, data: bytes, group: str | None = None, mode: int = 0o640) -> None:
    """Write ``path`` through a temporary file in its folder and a rename."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if group is not None:
            shutil.chown(temporary, group=group)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def read_status(config: Config) -> dict:
    """Each kind's last recorded result (an empty dict for a kind that never ran)."""
    found = {}
    for kind in STATUS_KINDS:
        try:
            found[kind] = json.loads((Path(config.status_dir) / f"{kind}.json").read_text())
        except (FileNotFoundError, ValueError):
            found[kind] = {}
    return found


def record(config: Config, job: str, started: datetime, error: str | None) -> dict:
    """Write the result of ``job`` as its kind's status; the last success carries over."""
    kind = JOBS[job]
    finished = config.now()
    previous = read_status(config)[kind]
    last_success = finished.isoformat() if error is None else previous.get("last_success")
    due_by = None
    if last_success is not None:
        overdue_after = timedelta(seconds=config.overdue_after[kind])
        due_by = (datetime.fromisoformat(last_success) + overdue_after).isoformat()
    status = {
        "kind": kind,
        "job": job,
        "ok": error is None,
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "seconds": round((finished - started).total_seconds(), 1),
        "last_success": last_success,
        # Readers (/health/, fab backups) call the job overdue after this.
        "due_by": due_by,
        "error": error,
    }
    path = Path(config.status_dir) / f"{kind}.json"
    write_atomically(path, json.dumps(status, indent=1).encode() + b"\n", config.status_group)
    return status


def run_job(config: Config, job: str, log: Callable[[str], None] = print) -> dict:
    """Run one job and record its result; Failed (after recording it) when it failed."""
    if job not in JOBS:
        raise Failed(f"no job {job!r}: one of {', '.join(JOBS)}")
    with exclusive(config):
        started = config.now()
        try:
            if job == "restore-check":
                restore_check(config, log)
            if job == "offsite":
                ensure_offsite(config)
            for args in job_commands(config, job):
                # The off-site store's keys go to the commands that use it only.
                away = config.offsite_repository and f"--repo={config.offsite_repository}" in args
                run_checked(config, args, offsite_env(config) if away else None)
        except Failed as failed:
            record(config, job, started, str(failed))
            raise
        return record(config, job, started, None)


def now(config: Config) -> list[dict]:
    """An incremental database backup and a media snapshot, recorded as the timers' are.

    Then the off-site copy of both, when there is one.
    """
    jobs = ["database-incr", "media", *(["offsite"] if config.offsite_repository else [])]
    return [run_job(config, job) for job in jobs]


def ensure_offsite(config: Config) -> None:
    """Create the off-site repository on the first copy (restic init, with the same key)."""
    env = offsite_env(config)
    if config.run(offsite(config, "cat", "config"), env=env).returncode != 0:
        run_checked(config, offsite(config, "init"), env)


def offsite_snapshots(config: Config) -> list[dict]:
    """The off-site copy's snapshots, oldest first: id, time."""
    command = offsite(config, "snapshots", "--json", "--tag=offsite")
    return snapshot_list(run_checked(config, command, offsite_env(config)))


def fetch_offsite(config: Config, log: Callable[[str], None] = print) -> None:
    """Replace both repositories by the newest off-site snapshot of them.

    For a server that lost them (or a new one, provisioned with the same vault):
    fab restore restores from them next. Each replaced repository is kept beside
    it as NAME.before-fetch, since it may hold backups newer than the copy.
    """
    snapshot = (offsite_snapshots(config) or [None])[-1]
    if snapshot is None:
        raise Failed(f"the off-site copy {config.offsite_repository} holds no snapshot yet")
    env = offsite_env(config)
    with exclusive(config, seconds=600):
        for folder in (Path(config.database_repository), Path(config.media_repository)):
            # Restored beside it, on its file system, then swapped in by renames.
            staging = folder.with_name(f".{folder.name}.fetching")
            kept = folder.with_name(f"{folder.name}.before-fetch")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(mode=0o700)
            try:
                run_checked(config, offsite(config, "restore", snapshot["full_id"],
                                            f"--target={staging}", f"--include={folder}"),
                            env)  # fmt: skip
                restored = staging / folder.relative_to("/")
                if not restored.is_dir():
                    raise Failed(f"off-site snapshot {snapshot['id']} holds no {folder}")
                shutil.rmtree(kept, ignore_errors=True)
                if folder.exists():
                    folder.rename(kept)
                restored.rename(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            log(f"{folder}: the off-site snapshot {snapshot['id']} of {snapshot['time']}"
                f" (what was there: {kept})")  # fmt: skip


# Restore points: names in the WAL that a restore can stop at exactly.


def points_file(config: Config) -> Path:
    return Path(config.status_dir) / "restore-points.json"


def restore_points(config: Config) -> list[dict]:
    """The recorded restore points, oldest first: name, time, lsn."""
    try:
        return json.loads(points_file(config).read_text())
    except (FileNotFoundError, ValueError):
        return []


def save_points(config: Config, points: list[dict]) -> None:
    data = json.dumps(points[-POINTS_KEPT:], indent=1).encode() + b"\n"
    write_atomically(points_file(config), data, config.status_group)


def mark(config: Config, name: str) -> dict:
    """Create the restore point ``name``, archive its WAL segment, record it."""
    if not POINT_NAME.fullmatch(name) or name == "now":
        raise Failed(
            f"{name!r} is no restore point name: up to 63 letters, digits, '.', '_' or '-', "
            'not "now"'
        )
    if any(point["name"] == name for point in restore_points(config)):
        raise Failed(f"there is a restore point named {name} already: choose another name")
    # Read before the point is made: a backup that ended by then ended before it.
    at = config.now()
    lsn = run_checked(config, psql(config, f"SELECT pg_create_restore_point('{name}')")).strip()
    # Switches the WAL and waits for its archiving: the point is in the
    # repository now, not a minute later.
    run_checked(config, pgbackrest(config, "check"))
    point = {"name": name, "time": at.isoformat(), "lsn": lsn}
    save_points(config, [*restore_points(config), point])
    return point


# What there is to restore from.


def database_backups(config: Config) -> list[dict]:
    """pgBackRest's backups of the stanza, oldest first: label, type, start, stop, sizes."""
    info = json.loads(run_checked(config, pgbackrest(config, "--output=json", "info")))
    stanza = next((s for s in info if s.get("name") == config.stanza), {})
    return [
        {
            "label": b["label"],
            "type": b["type"],
            "start": stamp(b["timestamp"]["start"]),
            "stop": stamp(b["timestamp"]["stop"]),
            "size": b["info"]["size"],
            "stored": b["info"]["repository"]["delta"],
        }
        for b in stanza.get("backup", [])
    ]


def stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def snapshot_list(listed: str) -> list[dict]:
    """restic's ``snapshots --json``, oldest first: id, full id, time, tags."""
    snapshots = [
        {
            "id": s["short_id"],
            "full_id": s["id"],
            "time": parse_time(s["time"]).isoformat(),
            "tags": s.get("tags", []),
        }  # fmt: skip
        for s in json.loads(listed or "[]") or []
    ]
    return sorted(snapshots, key=lambda s: s["time"])


def media_snapshots(config: Config) -> list[dict]:
    """restic's snapshots of the media, oldest first: id, time, tags."""
    return snapshot_list(run_checked(config, restic(config, "snapshots", "--json", "--tag=media")))


def media_size(config: Config) -> int | None:
    """The bytes the media repository holds (deduplicated, compressed)."""
    result = config.run(restic(config, "stats", "--mode=raw-data", "--json"))
    try:
        return json.loads(result.stdout).get("total_size") if result.returncode == 0 else None
    except ValueError:
        return None


# What fab backups says of the WAL archive (pg_stat_archiver).
ARCHIVE_SQL = (
    "SELECT json_build_object('last_archived', last_archived_time, 'last_failed', "
    "last_failed_time, 'failed_count', failed_count, 'archive_timeout', "
    "current_setting('archive_timeout')) FROM pg_stat_archiver"
)


def archive(config: Config) -> dict:
    """PostgreSQL's WAL archiver: when it last archived a segment, and last failed."""
    return json.loads(run_checked(config, psql(config, ARCHIVE_SQL)))


def listing(config: Config) -> dict:
    """Everything fab backups shows; what could not be read is named under "errors"."""
    data = {"now": config.now().isoformat(), "status": read_status(config), "errors": {}}
    for key, read in (
        ("database", database_backups),
        ("media", media_snapshots),
        ("archive", archive),
    ):
        try:
            data[key] = read(config)
        except (Failed, ValueError, KeyError) as failed:
            data[key] = None
            data["errors"][key] = str(failed) or type(failed).__name__
    data["media_repository_size"] = media_size(config)
    if config.offsite_repository:
        data["offsite_repository"] = config.offsite_repository
        try:
            data["offsite"] = offsite_snapshots(config)
        except (Failed, ValueError, KeyError) as failed:
            data["offsite"] = None
            data["errors"]["offsite"] = str(failed) or type(failed).__name__
    data["points"] = restore_points(config)
    return data


# Restores.


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its zone (2026-12-07T10:30:00Z, or +01:00), as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Failed(
            f"{text!r} is no time like 2026-12-07T10:30:00Z (ISO 8601) nor a restore point "
            "(fab backups lists them)"
        ) from None
    if moment.tzinfo is None:
        raise Failed(f"{text!r} names no time zone: add one, e.g. {text}Z for UTC or {text}+01:00")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Plan:
    """What a restore to ``at`` starts from."""

    at: datetime
    backup: dict
    snapshot: dict
    point: str | None = None  # a restore point's name: recovery stops exactly there

    def describe(self) -> str:
        until = f"restore point {self.point} of {self.at.isoformat()}" if self.point else ""
        return (
            f"database: backup {self.backup['label']} (ended {self.backup['stop']}) and the "
            f"WAL archive up to {until or self.at.isoformat()}; media: snapshot "
            f"{self.snapshot['id']} of {self.snapshot['time']}"
        )


def plan_restore(
    at: datetime,
    backups: list[dict],
    snapshots: list[dict],
    now: datetime,
    point: str | None = None,
) -> Plan:
    """The newest backup and snapshot at or before ``at``; Failed when there is none."""
    if at > now:
        raise Failed(f"{at.isoformat()} is later than the server's time {now.isoformat()}")
    usable = [b for b in backups if parse_time(b["stop"]) <= at]
    if not usable:
        first = backups[0]["stop"] if backups else "none yet (fab backup makes one)"
        raise Failed(
            f"no database backup ended at or before {at.isoformat()}; the first ended: {first}"
        )
    before = [s for s in snapshots if parse_time(s["time"]) <= at]
    if not before:
        first = snapshots[0]["time"] if snapshots else "none yet (fab backup makes one)"
        raise Failed(f"no media snapshot at or before {at.isoformat()}; the first: {first}")
    return Plan(at=at, backup=usable[-1], snapshot=before[-1], point=point)


def make_plan(config: Config, at_text: str) -> Plan:
    """The plan of a restore to ``at_text``: a time, "now" (all that was committed) or a point."""
    named = next((p for p in restore_points(config) if p["name"] == at_text), None)
    if at_text == "now":
        at = config.now()
    elif named:
        at = parse_time(named["time"])
    else:
        at = parse_time(at_text)
    return plan_restore(
        at,
        database_backups(config),
        media_snapshots(config),
        config.now(),
        named and named["name"],
    )


def recovery_commands(config: Config, plan: Plan) -> list[list[str]]:
    """pgBackRest's restore of the stopped cluster to ``plan``'s target, promoted once there."""
    if plan.point:
        target = ["--type=name", f"--target={plan.point}"]
    else:
        target = ["--type=time", f"--target={plan.at.strftime('%Y-%m-%d %H:%M:%S.%f+00')}"]
    return [
        pgbackrest(
            config,
            f"--set={plan.backup['label']}",
            "--delta",
            *target,
            "--target-action=promote",
            "restore",
        )
    ]


def close_database(config: Config) -> None:
    """Archive every commit up to now, end the open sessions, stop PostgreSQL.

    Recovery to a time stops at the first commit after it: one is written now,
    and the WAL switched and archived, so the target is always reached.
    """
    run_checked(config, psql(config, "SELECT txid_current()"))
    run_checked(config, pgbackrest(config, "check"))
    # The whole cluster stops next: every session of every database ends.
    sql = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    run_checked(config, psql(config, sql))
    run_checked(config, cluster(config, "stop"))


def cluster_log(config: Config) -> str:
    return (
        f"/var/log/postgresql/postgresql-{config.postgresql_version}-"
        f"{config.postgresql_cluster}.log"
    )


def wait_promoted(
    config: Config,
    seconds: float = RECOVERY_SECONDS,
    host: str = "",
    status: list[str] | None = None,
    log: str = "",
) -> None:
    """Wait until PostgreSQL has replayed the WAL to the target and accepts writes.

    ``host``, ``status`` and ``log``: the socket folder, status command and log
    of another cluster than the project's (the restore check's scratch one).
    """
    log = log or cluster_log(config)
    deadline = time.monotonic() + seconds
    while True:
        result = config.run(psql(config, "SELECT pg_is_in_recovery()", host=host))
        if result.returncode == 0 and result.stdout.strip() == "f":
            return
        # A recovery that cannot reach its target ends the server: no use waiting.
        if result.returncode != 0 and config.run(status or cluster(config, "status")).returncode:
            raise Failed(f"PostgreSQL stopped during the recovery; see {log}")
        if time.monotonic() > deadline:
            raise Failed(f"PostgreSQL still replays the WAL after {seconds} s; see {log}")
        time.sleep(1)


def restore_media(config: Config, snapshot: dict) -> None:
    """Swap the media folder for ``snapshot``'s, restored beside it first."""
    media = Path(config.media_root)
    staging = media.with_name(f".{media.name}.restoring")
    replaced = media.with_name(f".{media.name}.replaced")
    if not media.exists() and replaced.is_dir():
        replaced.rename(media)  # a restore cut off between its two renames
    for leftover in (staging, replaced):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir(mode=0o700)
    run_checked(config, restic(config, "restore", snapshot["full_id"], f"--target={staging}"))
    restored = staging / media.relative_to("/")
    if not restored.is_dir():
        raise Failed(f"snapshot {snapshot['id']} holds no {media}")
    media.rename(replaced)
    restored.rename(media)
    shutil.rmtree(replaced)
    shutil.rmtree(staging)


def restore(config: Config, at_text: str, log: Callable[[str], None] = print) -> None:
    """The database to ``at_text`` and the media to its snapshot; the app must be stopped."""
    plan = make_plan(config, at_text)
    log(f"restoring {plan.describe()}")
    with exclusive(config, seconds=600):
        started = time.monotonic()
        # What is there now stays restorable: its WAL is archived (close_database)
        # and its media snapshotted.
        run_checked(config, restic(config, "backup", "--tag=media", "--tag=before-restore",
                                   config.media_root))  # fmt: skip
        close_database(config)
        for args in recovery_commands(config, plan):
            run_checked(config, args)
        run_checked(config, cluster(config, "start"))
        wait_promoted(config)
        database_done = time.monotonic()
        log(f"database restored to {plan.at.isoformat()} in {database_done - started:.1f} s")
        restore_media(config, plan.snapshot)
        log(f"media restored to snapshot {plan.snapshot['id']} in "
            f"{time.monotonic() - database_done:.1f} s")  # fmt: skip
        # The points after the target are on the timeline left behind: no
        # recovery on the new one can reach them.
        save_points(config, [p for p in restore_points(config) if parse_time(p["time"]) <= plan.at])
    # A new timeline began: a backup on it keeps later restores short.
    config.run([SYSTEMCTL, "start", "--no-block", f"{config.project}-backup@database-incr.service"])


# The restore check: is what the repository holds a database the project can use?


def pg_ctl(config: Config, *args: str) -> list[str]:
    """PostgreSQL's pg_ctl on the scratch cluster, as postgres."""
    program = f"/usr/lib/postgresql/{config.postgresql_version}/bin/pg_ctl"
    return [RUNUSER, "-u", "postgres", "--", program, "-D", config.restore_check_dir, *args]


def scratch_log(config: Config) -> str:
    """The scratch cluster's server log: kept beside its folder until the next check."""
    return f"{config.restore_check_dir}.log"


def scratch_settings(config: Config) -> dict[str, str]:
    """postgresql.conf and pg_hba.conf of the scratch cluster.

    Reached through its own socket folder only (postgres's, which the app's
    group may enter); never archives (the WAL of its
    new timeline must not reach the repository); small, beside the real one.
    Only postgres gets in without a password: a role of the restored database
    signs in with its own, which the app's env file holds. Hot standby is off,
    so settings lower than the real cluster's (max_connections) cannot stop
    the recovery.
    """
    conf = {
        "listen_addresses": "''",
        "port": str(config.postgresql_port),
        "unix_socket_directories": f"'{config.scratch_sockets}'",
        "archive_mode": "off",
        "hot_standby": "off",
        "max_connections": "20",
        "shared_buffers": "32MB",
    }
    return {
        "postgresql.conf": "".join(f"{name} = {value}\n" for name, value in conf.items()),
        "pg_hba.conf": "local all postgres peer\nlocal all all scram-sha-256\n",
    }


def env_value(path: str, name: str) -> str:
    """``name``'s value in the app's env file."""
    value = shell_variables(path, "the app's env file").get(name)
    if value is None:
        raise Failed(f"{path} sets no {name}: re-run provisioning")
    return value


def scratch_url(url: str, sockets: str, port: int) -> str:
    """The app's database URL with the scratch cluster's socket folder for its host."""
    parts = urlsplit(url)
    credentials, _, _ = parts.netloc.rpartition("@")
    where = f"{quote(sockets, safe='')}:{port}"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{where}" if credentials else where))


# Run by the app's user in the serving release, with the app's environment but
# the scratch cluster for its database; the URL arrives through the environment.
CHECK_SCRIPT = (
    'set -a; . "$1"; set +a; DATABASE_URL=$RESTORE_CHECK_DATABASE_URL; '
    'cd "$2" && exec .venv/bin/python manage check_database'
)


def project_check(config: Config) -> list[str]:
    """./manage check_database of the serving release, as the app's user."""
    return [RUNUSER, "-u", config.app_user, "--", SH, "-c", CHECK_SCRIPT, "restore-check",
            config.env_file, config.app_current]  # fmt: skip


def remove_scratch(config: Config) -> None:
    """Stop the scratch cluster if it runs and remove its folders."""
    if config.run(pg_ctl(config, "status")).returncode == 0:
        run_checked(config, pg_ctl(config, "-m", "immediate", "-w", "stop"))
    shutil.rmtree(config.restore_check_dir, ignore_errors=True)
    shutil.rmtree(config.scratch_sockets, ignore_errors=True)


# Who owns the scratch cluster's files (tests set their own user).
POSTGRES_USER = "postgres"


def make_folder(path: str, owner: str, group: str, mode: int) -> None:
    os.mkdir(path, mode)
    shutil.chown(path, owner, group)
    os.chmod(path, mode)


def log_tail(path: str, lines: int = 5) -> str:
    try:
        return " | ".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "no log"


def restore_check(config: Config, log: Callable[[str], None] = print) -> None:
    """Restore the newest backup and all the WAL into the scratch cluster; check it.

    The real cluster serves on throughout. The scratch one is removed after the
    check, passed or failed; a check cut off leaves it to the next one to remove.
    """
    scratch = Path(config.restore_check_dir)
    if not scratch.is_absolute() or scratch.resolve() in {
        Path(f"/var/lib/postgresql/{config.postgresql_version}/{config.postgresql_cluster}"),
        Path("/"),
    }:
        raise Failed(f"restore_check_dir {scratch} must be a folder of its own: fix backup.json")
    if not Path(config.app_current).exists():
        raise Failed(
            f"no release serves ({config.app_current} is missing): deploy first, the check runs "
            "the serving release's ./manage check_database"
        )
    started = time.monotonic()
    # Switch the WAL and wait for its archiving: the copy holds every commit
    # made before the check began, as a restore would.
    run_checked(config, pgbackrest(config, "check"))
    remove_scratch(config)
    Path(scratch_log(config)).unlink(missing_ok=True)
    try:
        make_folder(str(scratch), POSTGRES_USER, POSTGRES_USER, 0o700)
        make_folder(config.scratch_sockets, POSTGRES_USER, config.app_user, 0o750)
        run_checked(config, pgbackrest(config, f"--pg1-path={scratch}", "--archive-mode=off",
                                       "restore"))  # fmt: skip
        for name, text in scratch_settings(config).items():
            path = scratch / name
            path.write_text(text, encoding="utf-8")
            shutil.chown(path, POSTGRES_USER, POSTGRES_USER)
            os.chmod(path, 0o600)
        run_checked(config, pg_ctl(config, "-l", scratch_log(config), "-W", "start"))
        try:
            wait_promoted(config, host=config.scratch_sockets, status=pg_ctl(config, "status"),
                          log=scratch_log(config))  # fmt: skip
        except Failed as failed:
            raise Failed(f"{failed}: {log_tail(scratch_log(config))}") from None
        log(
            f"restored the newest backup and all archived WAL in {time.monotonic() - started:.1f} s"
        )
        url = scratch_url(
            env_value(config.env_file, "DATABASE_URL"), config.scratch_sockets,
            config.postgresql_port,
        )  # fmt: skip
        check = project_check(config)
        checked = config.run(check, env={"RESTORE_CHECK_DATABASE_URL": url})
        if checked.returncode != 0:
            found = str(failure(check, checked)).partition(": ")[2]
            raise Failed(f"the restored copy fails the serving release's check_database: {found}")
        for line in checked.stdout.splitlines():
            log(line)
    finally:
        remove_scratch(config)


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    """Run one subcommand: 0 when done, 1 when refused or failed, 2 for a usage error."""
    parser = argparse.ArgumentParser(prog="backup", description="The project's backups.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run").add_argument("job", choices=list(JOBS))
    commands.add_parser("now")
    commands.add_parser("check-restore")
    commands.add_parser("fetch-offsite")
    commands.add_parser("list")
    commands.add_parser("mark").add_argument("name")
    restoring = commands.add_parser("restore")
    restoring.add_argument("--at", required=True, metavar="TIME")
    restoring.add_argument("--check", action="store_true")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        config = config or load_config()
        if args.command == "run":
            status = run_job(config, args.job)
            print(f"{args.job} done in {status['seconds']} s")
        elif args.command == "check-restore":
            status = run_job(config, "restore-check")
            print(f"restore-check passed in {status['seconds']} s")
        elif args.command == "fetch-offsite":
            fetch_offsite(config)
        elif args.command == "now":
            for status in now(config):
                print(f"{status['job']} done in {status['seconds']} s")
        elif args.command == "list":
            print(json.dumps(listing(config)))
        elif args.command == "mark":
            point = mark(config, args.name)
            print(f"restore point {point['name']} at {point['time']} (WAL {point['lsn']})")
        elif args.check:
            print(f"would restore {make_plan(config, args.at).describe()}")
        else:
            restore(config, args.at)
    except (Failed, OSError) as error:
        message = " | ".join(filter(None, (line.strip() for line in str(error).splitlines())))
        print(f"backup: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
