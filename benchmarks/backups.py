"""Backups of the 10,000-article database on the lab's server: time, size, RTO and RPO.

Part of make bench-deploy (benchmarks/deploy.py), on the server its deploys
left serving:

- the database gets exactly ROWS articles (as make bench-api's);
- a full backup and then, after ROWS // 100 more articles, an incremental one,
  each timed, with the size of the database and what the repository stored;
- RPO, the most committed data a crash could lose: a commit is safe once the
  WAL segment holding it is archived. PostgreSQL switches segments at the latest
  archive_timeout after a commit, so the bound is archive_timeout plus the
  time one segment takes to reach the repository (measured: a commit, a switch,
  until pg_stat_archiver shows it archived). One commit left to the timeout
  alone shows a real delay below that bound;
- RTO: fab restore --at=now (workflow.restore), maintenance mode included.
"""

import shlex
import time

from deploy import backups, workflow
from tests.e2e.lab import Lab, Server

ROWS = 10_000
SEED = """
from {{ project_name }}.apps.articles.models import Article
from {{ project_name }}.apps.users.models import User
author, _ = User.objects.get_or_create(username="bench")
if Article.objects.count() != COUNT:
    Article.objects.all().delete()
    Article.objects.bulk_create(
        Article(title=f"Article {n}", body="Lorem ipsum dolor sit amet. " * 20, author=author)
        for n in range(COUNT)
    )
print(Article.objects.count())
"""
# How long a commit may wait for its segment's archiving before the measurement gives up.
ARCHIVE_WAIT = 180


def articles(c, target, count: int) -> int:
    """Make the database hold exactly ``count`` articles, through the current release."""
    script = SEED.replace("COUNT", str(count))
    command = (
        f"cd {target.root}/current && server/run .venv/bin/python manage shell -c "
        f"{shlex.quote(script)}"
    )
    return int(c.run(command, hide=True).stdout.split()[-1])


def sql(lab: Lab, server: Server, statement: str) -> str:
    """One statement as postgres on ``server``; its unaligned output."""
    command = f"runuser -u postgres -- psql -X -At -d postgres -c {shlex.quote(statement)}"
    return lab.ssh(server, command).stdout.strip()


def timed_job(lab: Lab, server: Server, target, job: str) -> float:
    """Seconds the backup program's ``job`` took on the server (as its timer runs it)."""
    started = time.monotonic()
    lab.ssh(server, f"{target.backup_program} run {job}")
    return round(time.monotonic() - started, 2)


def archived(lab: Lab, server: Server, segment: str) -> bool:
    last = sql(lab, server, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
    # Segment names (timeline, then position) sort as they were written; a
    # backup's history file is named after its segment, a timeline's has 8 digits.
    return len(last) >= 24 and last[:24] >= segment


def commit_archived_after(lab: Lab, server: Server, switch: bool) -> float:
    """Seconds from a commit until the segment holding it is archived (``switch``: forced)."""
    segment = sql(
        lab, server, "SELECT txid_current(), pg_walfile_name(pg_current_wal_insert_lsn())"
    ).split("|")[1]
    started = time.monotonic()
    if switch:
        sql(lab, server, "SELECT pg_switch_wal()")
    while not archived(lab, server, segment):
        if time.monotonic() - started > ARCHIVE_WAIT:
            raise RuntimeError(f"WAL segment {segment} not archived after {ARCHIVE_WAIT} s")
        time.sleep(0.2)
    return round(time.monotonic() - started, 2)


def last_backup(c, target) -> dict:
    return backups.listing(c, target)["database"][-1]


def measure(c, target, lab: Lab, server: Server) -> dict:
    """The backup figures of ``server``'s database with ROWS articles."""
    articles(c, target, ROWS)
    full_s = timed_job(lab, server, target, "database-full")
    full = last_backup(c, target)
    articles(c, target, ROWS + ROWS // 100)
    incremental_s = timed_job(lab, server, target, "database-incr")
    incremental = last_backup(c, target)
    timeout = sql(lab, server, "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'")
    push_s = commit_archived_after(lab, server, switch=True)
    sample_s = commit_archived_after(lab, server, switch=False)
    restore_s = workflow.restore(c, target, "now", log=lambda line: None)
    return {
        "articles": ROWS,
        "database_bytes": full["size"],
        "full_backup_s": full_s,
        "full_backup_stored_bytes": full["stored"],
        "incremental_backup_s": incremental_s,
        "incremental_articles": ROWS // 100,
        "incremental_stored_bytes": incremental["stored"],
        "restore_s": round(restore_s, 2),
        "archive_timeout_s": int(timeout),
        "wal_push_s": push_s,
        "rpo_bound_s": round(int(timeout) + push_s, 2),
        "rpo_sample_s": sample_s,
    }


def report(figures: dict) -> None:
    """Print ``figures`` as a table."""
    size = backups.size
    rows = [
        ("database", f"{figures['articles']:,} articles, {size(figures['database_bytes'])}"),
        (
            "full backup",
            f"{figures['full_backup_s']} s, {size(figures['full_backup_stored_bytes'])} stored",
        ),
        (
            f"incremental backup (+{figures['incremental_articles']} articles)",
            f"{figures['incremental_backup_s']} s, "
            f"{size(figures['incremental_stored_bytes'])} stored",
        ),
        ("restore, fab restore --at=now (RTO)", f"{figures['restore_s']} s"),
        (
            "data a crash can lose (RPO)",
            f"at most {figures['rpo_bound_s']} s of commits: archive_timeout "
            f"{figures['archive_timeout_s']} s + {figures['wal_push_s']} s to archive a segment",
        ),
        ("a commit left to archive_timeout", f"archived after {figures['rpo_sample_s']} s"),
    ]
    width = max(len(what) for what, _ in rows)
    print(f"{'backups':<{width}}  figure")
    print("-" * (width + 40))
    for what, figure in rows:
        print(f"{what:<{width}}  {figure}")
