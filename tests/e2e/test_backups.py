"""Backups on the deployed server: a point-in-time restore proven by its rows and files.

Provisioning made the first backups and started the timers. Here rows and an
upload are written before and after a time T, fab restore --at=T brings back
exactly what existed at T; a deploy let through with a breaking migration
runs it behind maintenance mode, and its restore point takes the data back to
before it; a failing backup job shows in fab backups and /health/ until it
runs again.
"""

import json
import re
import time

import pytest

from .conftest import NAME, OFFSITE_USER, offsite_repository, report
from .test_deploy import Load, django_shell

MEDIA = f"/var/lib/{NAME}/media"
ARTICLES = f"""
import json
from django.contrib.auth import get_user_model
from {NAME}.apps.articles.models import Article
author, _ = get_user_model().objects.get_or_create(username=AUTHOR)
for title in TITLES:
    Article.objects.create(title=title, author=author)
print(json.dumps(sorted(Article.objects.filter(author=author).values_list("title", flat=True))))
"""


def write(lab, web, *titles: str, author: str = "e2e-backup") -> list:
    """Create articles with ``titles`` by ``author``; every title of that author's, after."""
    script = ARTICLES.replace("TITLES", repr(list(titles))).replace("AUTHOR", repr(author))
    return json.loads(django_shell(lab, web, script))


def upload(lab, web, name: str) -> None:
    """A file in the uploads, written as the app writes them."""
    lab.ssh(web, f"runuser -u {NAME} -- sh -c 'echo {name} > {MEDIA}/{name}.txt'")


def uploads(lab, web) -> list:
    return sorted(lab.ssh(web, f"ls {MEDIA}").stdout.split())


def server_time(lab, web) -> str:
    return lab.ssh(web, "date -u +%Y-%m-%dT%H:%M:%S.%6NZ").stdout.strip()


@pytest.mark.every_suite
def test_a_restore_to_a_point_in_time_brings_back_what_was_there_then_and_nothing_after(
    project, lab, web
):
    write(lab, web, "before the backup")
    upload(lab, web, "before")
    done = project.fab("backup").stdout
    assert "database-incr done" in done and "media done" in done, done
    # Only in the WAL archive: no backup holds it.
    write(lab, web, "after the backup")
    time.sleep(1)
    at = server_time(lab, web)
    time.sleep(1)
    assert write(lab, web, "after T") == ["after T", "after the backup", "before the backup"]
    upload(lab, web, "after")
    listed = project.fab("backups").stdout
    assert "full" in listed and "incr" in listed and "last success" in listed, listed

    started = time.monotonic()
    restored = project.fab("restore", f"--at={at}")
    seconds = time.monotonic() - started
    print(restored.stdout)
    assert "maintenance on" in restored.stdout and "maintenance off" in restored.stdout
    assert write(lab, web) == ["after the backup", "before the backup"]
    assert "before.txt" in uploads(lab, web) and "after.txt" not in uploads(lab, web)
    status, body, _ = web.get("/api/articles/")
    assert status == 200, body
    assert "after T" not in body.decode() and "before the backup" in body.decode()
    report(f"fab restore --at of database and media: {seconds:.1f} s, maintenance included")


# Breaking for the serving release: the index build locks the table's writes.
CREATE_INDEX = 'CREATE INDEX "e2e_title" ON "articles_article" ("title")'
LOCKING_INDEX = (
    "from django.db import migrations\n\n\n"
    "class Migration(migrations.Migration):\n"
    "    dependencies = [('articles', '0002_search_index')]\n"
    f"    operations = [migrations.RunSQL({CREATE_INDEX!r}, 'DROP INDEX \"e2e_title\"')]\n"
)
INDEXED = (
    "from django.db import connection; c = connection.cursor(); "
    "c.execute(\"SELECT count(*) FROM pg_indexes WHERE indexname = 'e2e_title'\"); "
    "print(c.fetchone()[0])"
)


COUNT = f"""
from {NAME}.apps.articles.models import Article
print(Article.objects.count())
"""
SCRATCH = f"/var/lib/postgresql/{NAME}-restore-check"


@pytest.mark.every_suite
def test_the_restore_check_restores_the_newest_backup_beside_the_database_and_checks_it(
    project, lab, web
):
    write(lab, web, "in the checked copy")
    rows = int(django_shell(lab, web, COUNT))
    timelines = "find /var/lib/pgbackrest/archive -name '*.history' | sort"
    before = lab.ssh(web, timelines).stdout
    started = time.monotonic()
    checked = project.fab("check-backup").stdout
    seconds = time.monotonic() - started
    print(checked)
    # The copy holds every commit made before the check, read through each model.
    table = {
        words[0]: words[2]
        for words in map(str.split, checked.splitlines())
        if len(words) == 3 and words[2].isdigit()
    }
    assert table["articles.Article"] == str(rows), checked
    assert "none missing" in checked and "restore-check passed" in checked, checked
    # Nothing of it is left, and its new timeline never reached the repository.
    assert lab.ssh(web, f"ls -d {SCRATCH} /run/{NAME}-restore-check", check=False).returncode
    assert "restore-check" not in lab.ssh(web, "ps -eo args").stdout
    assert lab.ssh(web, timelines).stdout == before
    jobs = project.fab("backups").stdout
    assert re.search(r"restore-check +ok ", jobs), jobs
    report(f"fab check-backup (restore beside the database, project checks): {seconds:.1f} s")


OFFSITE_AUTHOR = "e2e-offsite"


def test_the_offsite_copy_alone_restores_the_data_after_the_server_loses_its_backups(
    project, lab, web, db
):
    write(lab, web, "kept off-site", author=OFFSITE_AUTHOR)
    upload(lab, web, "kept")
    # A snapshot of the uploads holds kept.txt: media restores go to a snapshot.
    assert "offsite done" in project.fab("backup").stdout
    time.sleep(1)
    at = server_time(lab, web)
    time.sleep(1)
    write(lab, web, "after T off-site", author=OFFSITE_AUTHOR)
    upload(lab, web, "later")
    # The WAL up to now archived and copied, with both repositories, to db1.
    assert "offsite done" in project.fab("backup").stdout
    listed = project.fab("backups").stdout
    assert f"off-site copy ({offsite_repository(lab)}; the last 3 of " in listed, listed
    assert re.search(r"offsite +ok ", listed), listed
    # db1 holds only restic's encrypted files: neither a title nor an upload reads there.
    stored = f"/srv/{OFFSITE_USER}/{NAME}"
    assert lab.ssh(db, f"test -f {stored}/config").returncode == 0
    assert lab.ssh(db, f"grep -rl 'kept off-site' {stored}", check=False).returncode == 1

    # The server loses both repositories.
    lab.ssh(web, f"rm -rf /var/lib/pgbackrest/* /var/lib/{NAME}-backup/media/*")
    assert project.fab("backups", check=False).returncode != 0
    fetched = project.fab("fetch-backups").stdout
    print(fetched)
    assert "/var/lib/pgbackrest: the off-site snapshot" in fetched, fetched
    started = time.monotonic()
    project.fab("restore", f"--at={at}")
    seconds = time.monotonic() - started
    titles = write(lab, web, author=OFFSITE_AUTHOR)
    assert "kept off-site" in titles and "after T off-site" not in titles, titles
    assert "kept.txt" in uploads(lab, web) and "later.txt" not in uploads(lab, web)
    status, body, _ = web.get("/api/articles/")
    assert status == 200 and "kept off-site" in body.decode(), body
    kept = f"/var/lib/pgbackrest.before-fetch /var/lib/{NAME}-backup/media.before-fetch"
    assert lab.ssh(web, f"ls -d {kept}").returncode == 0
    lab.ssh(web, f"rm -rf {kept}")
    report(f"fab fetch-backups, then fab restore --at from the off-site copy: {seconds:.1f} s")


def test_a_breaking_migration_let_through_runs_behind_maintenance_and_its_restore_point_undoes_it(
    project, lab, web
):
    write(lab, web, "before the breaking deploy")
    migration = project.root / NAME / "apps" / "articles" / "migrations" / "0003_e2e_title.py"
    migration.write_text(LOCKING_INDEX)
    project.commit("An index built under a lock")
    try:
        # Refused without the flag, as test_deploy shows for a dropped column.
        with Load(web) as load:
            deployed = project.fab("deploy", "--allow-breaking-migrations")
        print(deployed.stdout, load.report, sep="\n")
        out = deployed.stdout
        assert "database-incr done" in out and "maintenance on, the worker of" in out, out
        point = re.search(r"restore point (before-\d{8}T\d{6}Z) at ", out)[1]
        assert f"maintenance off: {point.removeprefix('before-')} serves" in out
        # The pages answered 503 while it migrated, /health/ never failed.
        failures = load.report["first_failures"]
        assert load.report["failed"] > 0 and failures, load.report
        assert all(f.endswith("/api/articles/: HTTP 503") for f in failures), failures
        assert web.get("/api/articles/")[0] == 200
        assert django_shell(lab, web, INDEXED) == "1"
        assert point in project.fab("backups").stdout

        write(lab, web, "after the breaking deploy")
        restored = project.fab("restore", f"--at={point}")
        print(restored.stdout)
        assert f"restore point {point}" in restored.stdout
        assert "after the breaking deploy" not in write(lab, web)
        assert "before the breaking deploy" in write(lab, web)
        assert django_shell(lab, web, INDEXED) == "0"
    finally:
        # The data is as before the migration: so is the project, and the release
        # serving it, for the rest of the story.
        project.git("reset", "-q", "--hard", "HEAD~1")
    project.fab("deploy")
    assert web.get("/api/articles/")[0] == 200


def test_a_restore_that_cannot_be_done_is_refused_before_the_site_changes(project, web):
    for at, refusal in (
        ("2026-12-07T10:30:00", "names no time zone: add one"),
        ("2000-01-01T00:00:00Z", "no database backup ended at or before 2000-01-01"),
        ("tomorrow", "is no time like"),
    ):
        refused = project.fab("restore", f"--at={at}", check=False)
        assert refused.returncode == 1, refused.stdout
        assert refusal in refused.stderr, refused.stderr
    assert project.fab("maintenance").stdout.strip().endswith(": maintenance off")
    assert web.get("/api/articles/")[0] == 200


def backup_components(web) -> dict:
    status, body, _ = web.get("/health/")
    assert status == 200, body  # a backup's failure does not take the site out of service
    components = json.loads(body)["components"]
    return {name: components[name] for name in ("backup_database", "backup_media", "wal_archive")}


def test_a_failed_backup_shows_in_fab_backups_and_health_until_it_succeeds(project, lab, web):
    assert {c["status"] for c in backup_components(web).values()} == {"ok"}
    assert project.fab("backups").returncode == 0
    repository = f"/var/lib/{NAME}-backup/media"
    lab.ssh(web, f"mv {repository}/config {repository}/config.away")
    try:
        job = lab.ssh(web, f"systemctl start {NAME}-backup@media.service", check=False)
        assert job.returncode != 0
        listed = project.fab("backups", check=False)
        assert listed.returncode == 1
        assert "the last media job failed: restic failed" in listed.stderr, listed.stderr
        assert re.search(r"\n  +media +FAILED ", listed.stdout), listed.stdout
        media = backup_components(web)["backup_media"]
        assert media["status"] == "fail" and media["error"] == "BackupFailed", media
    finally:
        lab.ssh(web, f"mv {repository}/config.away {repository}/config")
    lab.ssh(web, f"systemctl start {NAME}-backup@media.service")
    assert project.fab("backups").returncode == 0
    assert backup_components(web)["backup_media"]["status"] == "ok"
