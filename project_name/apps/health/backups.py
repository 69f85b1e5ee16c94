"""Whether the server's backups are current, for /health/ (roles/backup writes their status).

The backup program records each job's last result in the status folder
(BACKUP_STATUS_DIR): whether it succeeded, and the time by which the next
success is due. A check fails with an exception whose class says what is
wrong; /health/ reports the class, the log the whole message.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection


class BackupMissing(Exception):
    """The job never recorded a result."""


class BackupFailed(Exception):
    """The job's last run failed."""


class BackupOverdue(Exception):
    """The job's last success is older than the role's backup_*_overdue_hours."""


class ArchiveFailing(Exception):
    """PostgreSQL's WAL archiving fails: point-in-time restores stop at its last success."""


def check_job(kind: str, now: datetime | None = None) -> None:
    """Raise unless job ``kind`` (database, media) last succeeded and is not overdue."""
    path = Path(settings.BACKUP_STATUS_DIR) / f"{kind}.json"
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupMissing(f"{path} does not exist: the {kind} backup never ran") from None
    if not status["ok"]:
        raise BackupFailed(f"the last {kind} backup failed: {status['error']}")
    due_by = datetime.fromisoformat(status["due_by"])
    if (now or datetime.now(UTC)) > due_by:
        raise BackupOverdue(
            f"the {kind} backup of {status['last_success']} was due again by {due_by}"
        )


def check_database_backup() -> None:
    """The last database backup (pgBackRest) succeeded and is recent."""
    check_job("database")


def check_media_backup() -> None:
    """The last media snapshot (restic) succeeded and is recent."""
    check_job("media")


def check_wal_archive() -> None:
    """PostgreSQL archived its last WAL segment rather than failing to."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_archived_time, last_failed_time FROM pg_stat_archiver")
        archived, failed = cursor.fetchone()
    if failed is not None and (archived is None or failed > archived):
        raise ArchiveFailing(f"archiving last failed at {failed}; last archived at {archived}")
