"""The backup program (roles/backup) builds the right commands, records results, plans restores.

pgBackRest, restic, psql and pg_ctlcluster are replaced by a recording fake;
make e2e runs the real ones on a server.
"""

import dataclasses
import grp
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from .helpers import FakeRunner, script

backup = script("provisioning/roles/backup/files/backup.py")

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
AS_POSTGRES = ["/usr/sbin/runuser", "-u", "postgres", "--"]
PGBACKREST = [*AS_POSTGRES, "/usr/bin/pgbackrest", "--stanza=acme_shop"]


def restic(*args):
    return [
        "/usr/bin/restic",
        "--repo=/var/lib/acme_shop-backup/media",
        "--password-file=/etc/acme_shop-backup/media-password",
        "--cache-dir=/var/cache/acme_shop-backup/restic",
        "--quiet",
        *args,
    ]


def psql(sql):
    return [*AS_POSTGRES, "/usr/bin/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-p", "5432",
            "-d", "postgres", "-c", sql]  # fmt: skip


@pytest.fixture
def config(tmp_path):
    (tmp_path / "status").mkdir()
    media = tmp_path / "lib" / "media"
    media.mkdir(parents=True)
    (media / "now.txt").write_text("now")
    current = tmp_path / "srv" / "current"
    current.mkdir(parents=True)
    env_file = tmp_path / "env"
    env_file.write_text(f"DATABASE_URL={DATABASE_URL_QUOTED}\nREDIS_URL=redis://x\n")
    return backup.Config(
        project="acme_shop",
        stanza="acme_shop",
        postgresql_version="15",
        postgresql_cluster="main",
        media_root=str(media),
        media_repository="/var/lib/acme_shop-backup/media",
        media_password_file="/etc/acme_shop-backup/media-password",
        media_keep={"within": "2d", "daily": 7},
        status_dir=str(tmp_path / "status"),
        status_group=grp.getgrgid(os.getgid()).gr_name,
        overdue_after={
            "database": 3600,
            "media": 600,
            "verify": 7200,
            "restore-check": 7200,
            "offsite": 7200,
        },
        restore_check_dir=str(tmp_path / "scratch"),
        app_user=grp.getgrgid(os.getgid()).gr_name,
        app_current=str(current),
        env_file=str(env_file),
        run=FakeRunner(),
        now=lambda: NOW,
        lock_path=str(tmp_path / "lock"),
    )


def with_runner(config, results):
    return dataclasses.replace(config, run=FakeRunner(results))


@pytest.mark.parametrize(
    ("job", "commands"),
    [
        ("database-full", [[*PGBACKREST, "--type=full", "backup"]]),
        ("database-incr", [[*PGBACKREST, "--type=incr", "backup"]]),
        (
            "media",
            [
                restic("backup", "--tag=media", "MEDIA"),
                restic("forget", "--tag=media", "--prune", "--keep-daily=7", "--keep-within=2d"),
            ],
        ),
        ("verify", [[*PGBACKREST, "verify"], restic("check")]),
    ],
)
def test_each_job_runs_its_commands(config, job, commands):
    expected = [[config.media_root if arg == "MEDIA" else arg for arg in c] for c in commands]
    assert backup.job_commands(config, job) == expected


def test_a_job_that_succeeds_records_when_it_is_due_again(config, tmp_path):
    status = backup.run_job(config, "media")
    written = json.loads((tmp_path / "status" / "media.json").read_text())
    assert written == status
    assert status["ok"] and status["error"] is None
    assert status["last_success"] == NOW.isoformat()
    assert status["due_by"] == (NOW + timedelta(seconds=600)).isoformat()
    assert (tmp_path / "status" / "media.json").stat().st_mode & 0o777 == 0o640
    # Nothing half-written is left beside it.
    assert sorted(p.name for p in (tmp_path / "status").iterdir()) == ["media.json"]


def test_a_failed_job_is_recorded_with_its_output_and_keeps_the_last_success(config, tmp_path):
    backup.run_job(config, "database-full")
    later = dataclasses.replace(config, now=lambda: NOW + timedelta(hours=2))
    failing = with_runner(
        later,
        {tuple(backup.job_commands(config, "database-incr")[0]): (56, "", "ERROR: [056]: no disk")},
    )
    with pytest.raises(
        backup.Failed, match=r"pgbackrest failed \(exit 56\): ERROR: \[056\]: no disk"
    ):
        backup.run_job(failing, "database-incr")
    status = backup.read_status(config)["database"]
    assert not status["ok"] and "no disk" in status["error"]
    assert status["job"] == "database-incr"
    assert status["last_success"] == NOW.isoformat()
    assert status["due_by"] == (NOW + timedelta(hours=1)).isoformat()


def test_backing_up_now_is_an_incremental_backup_and_a_snapshot(config):
    assert [status["job"] for status in backup.now(config)] == ["database-incr", "media"]
    assert config.run.calls[0] == [*PGBACKREST, "--type=incr", "backup"]


def backups_json(*stops: datetime) -> str:
    def one(label, stop):
        return {
            "label": label,
            "type": "full" if label.endswith("F") else "incr",
            "timestamp": {"start": int(stop.timestamp()) - 5, "stop": int(stop.timestamp())},
            "info": {"size": 1000, "repository": {"delta": 100}},
        }

    labels = ["20261207-080000F", "20261207-080000F_20261207-090000I"]
    backups = [one(label, stop) for label, stop in zip(labels, stops, strict=False)]
    return json.dumps([{"name": "acme_shop", "backup": backups}])


def snapshots_json(*times: datetime) -> str:
    return json.dumps(
        [
            {"id": f"{n}" * 64, "short_id": f"{n}" * 8, "time": t.isoformat(), "tags": ["media"]}
            for n, t in enumerate(times, start=1)
        ]
    )


INFO = (*PGBACKREST, "--output=json", "info")
SNAPSHOTS = tuple(restic("snapshots", "--json", "--tag=media"))
EIGHT, NINE = NOW - timedelta(hours=2), NOW - timedelta(hours=1)


@pytest.fixture
def stored(config):
    """A server with a full backup at 8:00, an incremental one at 9:00, snapshots at both."""
    return with_runner(
        config,
        {INFO: (0, backups_json(EIGHT, NINE), ""), SNAPSHOTS: (0, snapshots_json(EIGHT, NINE), "")},
    )


@pytest.mark.parametrize(
    ("at", "label", "snapshot"),
    [
        ("2026-12-07T09:30:00Z", "20261207-080000F_20261207-090000I", "22222222"),
        ("2026-12-07T08:59:59Z", "20261207-080000F", "11111111"),
        ("2026-12-07T09:30:00+01:00", "20261207-080000F", "11111111"),
        ("now", "20261207-080000F_20261207-090000I", "22222222"),
    ],
)
def test_a_restore_starts_from_the_newest_backup_and_snapshot_before_its_time(
    stored, at, label, snapshot
):
    plan = backup.make_plan(stored, at)
    assert (plan.backup["label"], plan.snapshot["id"]) == (label, snapshot)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2026-12-07T09:30:00", "names no time zone: add one, e.g. 2026-12-07T09:30:00Z"),
        ("yesterday", "is no time like 2026-12-07T10:30:00Z"),
        ("2026-12-07T11:00:00Z", "is later than the server's time"),
        (
            "2026-12-07T07:00:00Z",
            "no database backup ended at or before 2026-12-07T07:00:00+00:00; the first",
        ),
    ],
)
def test_a_restore_that_cannot_be_done_is_refused_naming_why(stored, at, message):
    with pytest.raises(backup.Failed, match=message.replace("(", r"\(").replace("+", r"\+")):
        backup.make_plan(stored, at)


def test_a_restore_before_the_first_snapshot_is_refused(config):
    config = with_runner(
        config, {INFO: (0, backups_json(EIGHT, NINE), ""), SNAPSHOTS: (0, snapshots_json(NINE), "")}
    )
    with pytest.raises(backup.Failed, match="no media snapshot at or before"):
        backup.make_plan(config, "2026-12-07T08:30:00Z")


def test_a_restore_archives_all_then_restores_the_database_then_swaps_the_media(stored, tmp_path):
    media = Path(stored.media_root)
    restore = restic("restore", "2" * 64, f"--target={media.with_name('.media.restoring')}")

    def unpack(args):
        # restic restores the snapshot's absolute path below its target.
        restored = Path(args[-1].removeprefix("--target=")) / media.relative_to("/")
        restored.mkdir(parents=True)
        (restored / "then.txt").write_text("then")
        return 0, "", ""

    stored.run.results[tuple(restore)] = unpack
    stored.run.results[tuple(psql("SELECT pg_is_in_recovery()"))] = (0, "f\n", "")
    lines = []
    backup.restore(stored, "2026-12-07T09:30:00Z", log=lines.append)
    ran = stored.run.calls
    assert ran[:2] == [list(INFO), list(SNAPSHOTS)]
    assert ran[2:] == [
        restic("backup", "--tag=media", "--tag=before-restore", stored.media_root),
        psql("SELECT txid_current()"),
        [*PGBACKREST, "check"],
        psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ),
        ["/usr/bin/pg_ctlcluster", "15", "main", "stop"],
        [
            *PGBACKREST,
            "--set=20261207-080000F_20261207-090000I",
            "--delta",
            "--type=time",
            "--target=2026-12-07 09:30:00.000000+00",
            "--target-action=promote",
            "restore",
        ],
        ["/usr/bin/pg_ctlcluster", "15", "main", "start"],
        psql("SELECT pg_is_in_recovery()"),
        restore,
        ["/usr/bin/systemctl", "start", "--no-block", "acme_shop-backup@database-incr.service"],
    ]
    assert sorted(p.name for p in media.iterdir()) == ["then.txt"]
    assert sorted(p.name for p in media.parent.iterdir()) == ["media"]
    assert lines[0].startswith("restoring database: backup 20261207-080000F_20261207-090000I")
    assert "database restored to 2026-12-07T09:30:00+00:00 in" in lines[1]


def test_a_restore_cut_off_between_its_two_renames_gets_the_media_back_first(config):
    media = Path(config.media_root)
    media.rename(media.with_name(".media.replaced"))
    with pytest.raises(backup.Failed, match="holds no"):
        backup.restore_media(config, {"id": "1", "full_id": "1" * 64})
    assert (media / "now.txt").read_text() == "now"


def test_a_restore_whose_recovery_fails_stops_there_naming_the_log(stored):
    start = ("/usr/bin/pg_ctlcluster", "15", "main", "start")
    stored.run.results[start] = (1, "", "Job for postgresql@15-main.service failed")
    with pytest.raises(backup.Failed, match="pg_ctlcluster failed"):
        backup.restore(stored, "2026-12-07T09:30:00Z", log=lambda line: None)
    assert not any(
        call[0] == "/usr/bin/restic" and call[5] == "restore" for call in stored.run.calls
    )


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (
            ["restore", "--at", "2026-12-07T09:30:00"],
            1,
            "backup: '2026-12-07T09:30:00' names no time zone",
        ),
        (["restore", "--at", "now", "--set=x"], 2, "unrecognized arguments"),
        (["run", "everything"], 2, "invalid choice"),
    ],
)
def test_the_command_line_refuses_what_it_does_not_know(stored, capsys, argv, code, text):
    assert backup.main(argv, stored) == code
    assert text in capsys.readouterr().err


def test_list_gives_backups_snapshots_jobs_and_the_archive_as_json(stored, capsys):
    archive = {"last_archived": NINE.isoformat(), "last_failed": None, "failed_count": 0,
               "archive_timeout": "1min"}  # fmt: skip
    stored.run.results[tuple(psql(backup.ARCHIVE_SQL))] = (0, json.dumps(archive), "")
    stats = tuple(restic("stats", "--mode=raw-data", "--json"))
    stored.run.results[stats] = (0, '{"total_size": 4096}', "")
    backup.run_job(stored, "media")
    assert backup.main(["list"], stored) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [b["label"] for b in listed["database"]] == [
        "20261207-080000F",
        "20261207-080000F_20261207-090000I",
    ]
    assert listed["database"][0]["stop"] == EIGHT.isoformat()
    assert [s["id"] for s in listed["media"]] == ["11111111", "22222222"]
    assert listed["media_repository_size"] == 4096
    assert listed["status"]["media"]["ok"] and listed["status"]["verify"] == {}
    assert listed["archive"] == archive
    assert listed["errors"] == {}
    assert listed["points"] == []


def test_list_names_a_repository_it_cannot_read_and_shows_the_rest(stored, capsys):
    stored.run.results[SNAPSHOTS] = (1, "", "Fatal: unable to open config file")
    archive = {"last_archived": None, "last_failed": None, "failed_count": 0}
    stored.run.results[tuple(psql(backup.ARCHIVE_SQL))] = (0, json.dumps(archive), "")
    assert backup.main(["list"], stored) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["media"] is None
    assert listed["errors"]["media"] == "restic failed (exit 1): Fatal: unable to open config file"
    assert len(listed["database"]) == 2


CREATE_POINT = psql("SELECT pg_create_restore_point('before-20261207T093000Z')")


def test_a_restore_point_is_made_archived_and_recorded(config, tmp_path):
    config.run.results[tuple(CREATE_POINT)] = (0, "0/3000090\n", "")
    point = backup.mark(config, "before-20261207T093000Z")
    assert config.run.calls == [CREATE_POINT, [*PGBACKREST, "check"]]
    assert point == {"name": "before-20261207T093000Z", "time": NOW.isoformat(), "lsn": "0/3000090"}
    assert backup.restore_points(config) == [point]
    assert (tmp_path / "status" / "restore-points.json").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("before x", "is no restore point name"),
        ("x');DROP TABLE y;--", "is no restore point name"),
        ("-x", "is no restore point name"),
        ("now", "is no restore point name"),
        ("a" * 64, "is no restore point name"),
    ],
)
def test_a_restore_point_name_that_could_mean_something_else_is_refused(config, name, message):
    with pytest.raises(backup.Failed, match=message):
        backup.mark(config, name)
    assert config.run.calls == []


def test_a_restore_point_name_is_taken_once(config):
    backup.mark(config, "before-1")
    with pytest.raises(backup.Failed, match="there is a restore point named before-1 already"):
        backup.mark(config, "before-1")


def test_a_restore_to_a_restore_point_stops_exactly_there(stored):
    at_half_past_nine = dataclasses.replace(stored, now=lambda: NINE + timedelta(minutes=30))
    backup.mark(at_half_past_nine, "before-20261207T093000Z")
    plan = backup.make_plan(stored, "before-20261207T093000Z")
    assert plan.point == "before-20261207T093000Z"
    assert plan.at == NINE + timedelta(minutes=30)
    assert plan.backup["label"] == "20261207-080000F_20261207-090000I"
    assert "WAL archive up to restore point before-20261207T093000Z of" in plan.describe()
    assert backup.recovery_commands(stored, plan) == [
        [
            *PGBACKREST,
            "--set=20261207-080000F_20261207-090000I",
            "--delta",
            "--type=name",
            "--target=before-20261207T093000Z",
            "--target-action=promote",
            "restore",
        ]
    ]


def test_after_a_restore_the_points_on_the_timeline_left_behind_are_forgotten(stored):
    for minutes, name in ((20, "early"), (40, "late")):
        moment = NINE + timedelta(minutes=minutes)
        backup.mark(dataclasses.replace(stored, now=lambda moment=moment: moment), name)
    stored.run.results[tuple(psql("SELECT pg_is_in_recovery()"))] = (0, "f\n", "")
    media = Path(stored.media_root)
    target = f"--target={media.with_name('.media.restoring')}"

    def unpack(args):
        (Path(args[-1].removeprefix("--target=")) / media.relative_to("/")).mkdir(parents=True)
        return 0, "", ""

    stored.run.results[tuple(restic("restore", "2" * 64, target))] = unpack
    backup.restore(stored, "2026-12-07T09:30:00Z", log=lambda line: None)
    assert [point["name"] for point in backup.restore_points(stored)] == ["early"]


def test_a_recovery_that_ends_the_server_is_reported_at_once(config):
    config.run.results[tuple(psql("SELECT pg_is_in_recovery()"))] = (2, "", "no server")
    config.run.results[("/usr/bin/pg_ctlcluster", "15", "main", "status")] = (3, "", "down")
    started = time.monotonic()
    with pytest.raises(backup.Failed, match="PostgreSQL stopped during the recovery; see"):
        backup.wait_promoted(config, seconds=60)
    assert time.monotonic() - started < 5


# The restore check: the newest backup and the archived WAL restored into a
# scratch cluster, the serving release's check_database run against it.

DATABASE_URL = "postgres://acme_shop_a:it's-s3cret@127.0.0.1:5432/acme_shop"
DATABASE_URL_QUOTED = "'postgres://acme_shop_a:it'\"'\"'s-s3cret@127.0.0.1:5432/acme_shop'"


@pytest.fixture
def checking(config, tmp_path, monkeypatch):
    """A config whose scratch cluster and sockets are under tmp_path, owned by this user."""
    monkeypatch.setattr(backup, "POSTGRES_USER", grp.getgrgid(os.getgid()).gr_name)
    return dataclasses.replace(config, sockets_path=str(tmp_path / "sockets"))


def pg_ctl(config, *args):
    return [*AS_POSTGRES, "/usr/lib/postgresql/15/bin/pg_ctl", "-D", config.restore_check_dir,
            *args]  # fmt: skip


def test_the_restore_check_restores_into_the_scratch_cluster_checks_and_removes_it(checking):
    seen = {}

    def starting(args):
        scratch = Path(checking.restore_check_dir)
        seen["files"] = {path.name: path.read_text() for path in scratch.iterdir()}
        seen["sockets"] = oct(Path(checking.sockets_path).stat().st_mode & 0o777)
        return 0, "", ""

    check = backup.project_check(checking)
    config = with_runner(checking, {
        tuple(pg_ctl(checking, "-l", f"{checking.restore_check_dir}.log", "-W", "start")): starting,
        tuple(check): (0, "articles.Article  articles_article  3 rows\n2 migrations applied", ""),
    })  # fmt: skip
    sockets = checking.sockets_path
    promoted = [*AS_POSTGRES, "/usr/bin/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", sockets,
                "-p", "5432", "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"]  # fmt: skip
    config.run.results[tuple(promoted)] = (0, "f", "")
    lines = []
    status = backup.run_job(config, "restore-check", log=lines.append)

    assert config.run.calls == [
        # Every commit so far archived, for the copy to hold.
        [*PGBACKREST, "check"],
        # Leftovers of a check cut off: stopped (the fake says one runs).
        pg_ctl(checking, "status"),
        pg_ctl(checking, "-m", "immediate", "-w", "stop"),
        [*PGBACKREST, f"--pg1-path={checking.restore_check_dir}", "--archive-mode=off", "restore"],
        pg_ctl(checking, "-l", f"{checking.restore_check_dir}.log", "-W", "start"),
        promoted,
        check,
        pg_ctl(checking, "status"),
        pg_ctl(checking, "-m", "immediate", "-w", "stop"),
    ]
    # The app's password reaches the check through its environment, not its arguments.
    assert config.run.envs == {
        6: {"RESTORE_CHECK_DATABASE_URL": "postgres://acme_shop_a:it's-s3cret@"
            + quote(sockets, safe="") + ":5432/acme_shop"}
    }  # fmt: skip
    assert not any("s3cret" in arg for call in config.run.calls for arg in call)
    conf = seen["files"]["postgresql.conf"]
    assert "archive_mode = off\n" in conf and "listen_addresses = ''\n" in conf
    assert f"unix_socket_directories = '{sockets}'\n" in conf
    assert seen["files"]["pg_hba.conf"] == "local all postgres peer\nlocal all all scram-sha-256\n"
    assert seen["sockets"] == "0o750"
    assert not Path(checking.restore_check_dir).exists() and not Path(sockets).exists()
    assert lines[-2:] == ["articles.Article  articles_article  3 rows", "2 migrations applied"]
    assert status["ok"] and status["kind"] == "restore-check"


def test_a_failed_check_is_recorded_and_the_scratch_cluster_still_removed(checking):
    check = backup.project_check(checking)
    promoted = [*AS_POSTGRES, "/usr/bin/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                checking.sockets_path, "-p", "5432", "-d", "postgres", "-c",
                "SELECT pg_is_in_recovery()"]  # fmt: skip
    config = with_runner(checking, {
        tuple(promoted): (0, "f", ""),
        tuple(check): (1, "", "CommandError: articles.Article (table articles_article): no column"),
    })  # fmt: skip
    with pytest.raises(
        backup.Failed,
        match=r"the restored copy fails the serving release's check_database: .*no column",
    ):
        backup.run_job(config, "restore-check")
    assert config.run.calls[-2:] == [
        pg_ctl(checking, "status"),
        pg_ctl(checking, "-m", "immediate", "-w", "stop"),
    ]
    assert not Path(checking.restore_check_dir).exists()
    status = backup.read_status(config)["restore-check"]
    assert not status["ok"] and "no column" in status["error"]


def test_a_scratch_cluster_that_dies_while_recovering_is_reported_with_its_log(checking):
    promoted = [*AS_POSTGRES, "/usr/bin/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                checking.sockets_path, "-p", "5432", "-d", "postgres", "-c",
                "SELECT pg_is_in_recovery()"]  # fmt: skip
    log = Path(f"{checking.restore_check_dir}.log")

    def starting(args):
        log.write_text("LOG:  starting\nFATAL:  could not locate required checkpoint record\n")
        return 0, "", ""

    config = with_runner(checking, {
        tuple(pg_ctl(checking, "-l", str(log), "-W", "start")): starting,
        tuple(promoted): (2, "", "no server"),
        tuple(pg_ctl(checking, "status")): (3, "", "no server running"),
    })  # fmt: skip
    with pytest.raises(
        backup.Failed, match="stopped during the recovery.*could not locate required checkpoint"
    ):
        backup.restore_check(config)
    assert not Path(checking.restore_check_dir).exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"restore_check_dir": "/var/lib/postgresql/15/main"}, "must be a folder of its own"),
        ({"restore_check_dir": "relative"}, "must be a folder of its own"),
        ({"app_current": "/nonexistent/current"}, r"no release serves .*deploy first"),
    ],
)
def test_a_restore_check_that_could_do_harm_or_cannot_check_is_refused(checking, change, message):
    config = dataclasses.replace(checking, **change)
    with pytest.raises(backup.Failed, match=message):
        backup.restore_check(config)
    assert config.run.calls == []


def test_the_check_runs_with_the_app_environment_but_the_scratch_database(checking, tmp_path):
    current = Path(checking.app_current)
    (current / ".venv" / "bin").mkdir(parents=True)
    python = current / ".venv" / "bin" / "python"
    python.write_text('#!/bin/sh\necho "$PWD $* $DATABASE_URL $REDIS_URL"\n')
    python.chmod(0o755)
    command = backup.project_check(checking)
    assert command[:4] == ["/usr/sbin/runuser", "-u", checking.app_user, "--"]
    result = backup.run_command(command[4:], env={"RESTORE_CHECK_DATABASE_URL": "postgres://x"})
    assert result.stdout.split() == [str(current), "manage", "check_database", "postgres://x",
                                     "redis://x"]  # fmt: skip


def test_the_app_database_url_is_read_from_the_env_file_as_the_shell_would(checking):
    assert backup.env_value(checking.env_file, "DATABASE_URL") == DATABASE_URL
    with pytest.raises(backup.Failed, match="sets no CELERY_BROKER_URL: re-run provisioning"):
        backup.env_value(checking.env_file, "CELERY_BROKER_URL")


# The off-site copy: restic snapshots of both repositories in another repository.

OFFSITE = "sftp:offsite@backup.example.com:/srv/offsite/acme_shop"


@pytest.fixture
def away(config, tmp_path):
    """A config with an off-site copy, its repositories under tmp_path."""
    (tmp_path / "offsite.env").write_text(
        "AWS_ACCESS_KEY_ID=key\nAWS_SECRET_ACCESS_KEY='s3 cret'\n"
    )
    for name in ("pgbackrest", "media-repo"):
        (tmp_path / "lib" / name).mkdir(parents=True)
        (tmp_path / "lib" / name / "config").write_text(f"{name} now")
    return dataclasses.replace(
        config,
        database_repository=str(tmp_path / "lib" / "pgbackrest"),
        media_repository=str(tmp_path / "lib" / "media-repo"),
        offsite_repository=OFFSITE,
        offsite_keep={"within": "2d", "daily": 14},
        offsite_env_file=str(tmp_path / "offsite.env"),
    )


def offsite(config, *args):
    return [
        "/usr/bin/restic",
        f"--repo={OFFSITE}",
        "--password-file=/etc/acme_shop-backup/media-password",
        "--cache-dir=/var/cache/acme_shop-backup/restic",
        "--quiet",
        *args,
    ]


def test_the_offsite_job_snapshots_both_repositories_and_forgets_with_its_own_keep(away):
    assert backup.job_commands(away, "offsite") == [
        offsite(away, "backup", "--tag=offsite", away.database_repository, away.media_repository),
        offsite(away, "forget", "--tag=offsite", "--prune", "--keep-daily=14", "--keep-within=2d"),
    ]


def test_the_first_offsite_copy_creates_the_repository_there_with_the_stores_keys(away):
    config = with_runner(away, {tuple(offsite(away, "cat", "config")): (1, "", "does not exist")})
    status = backup.run_job(config, "offsite")
    assert status["ok"] and status["kind"] == "offsite"
    assert config.run.calls[:2] == [offsite(away, "cat", "config"), offsite(away, "init")]
    keys = {"AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "s3 cret"}
    assert config.run.envs == dict.fromkeys(range(4), keys)
    assert not any("s3 cret" in arg for call in config.run.calls for arg in call)


def test_the_verify_job_checks_the_offsite_copy_too_with_the_stores_keys(away):
    backup.run_job(away, "verify")
    assert away.run.calls[-1] == offsite(away, "check")
    assert list(away.run.envs) == [2]


def test_an_existing_offsite_repository_is_not_created_again(away):
    backup.run_job(away, "offsite")
    assert [call[5] for call in away.run.calls] == ["cat", "backup", "forget"]


def test_backing_up_now_updates_the_offsite_copy_when_there_is_one(away, config):
    assert [s["job"] for s in backup.now(away)] == ["database-incr", "media", "offsite"]
    assert [s["job"] for s in backup.now(config)] == ["database-incr", "media"]


def test_without_an_offsite_copy_its_commands_are_refused_naming_the_variable(config):
    with pytest.raises(backup.Failed, match="set backup_offsite_repository and provision"):
        backup.fetch_offsite(config)


def offsite_snapshots_json(*times):
    return json.dumps([
        {"short_id": f"{n:08d}", "id": f"{n:08d}" * 8, "time": t.isoformat(), "tags": ["offsite"]}
        for n, t in enumerate(times, start=1)
    ])  # fmt: skip


def test_fetching_swaps_in_each_repository_from_the_newest_snapshot_keeping_the_old(away):
    def restoring(args):
        target = Path(next(a for a in args if a.startswith("--target="))[9:])
        folder = next(a for a in args if a.startswith("--include="))[10:]
        restored = target / Path(folder).relative_to("/")
        restored.mkdir(parents=True)
        (restored / "config").write_text(f"{Path(folder).name} off-site")
        return 0, "", ""

    snapshots = offsite(away, "snapshots", "--json", "--tag=offsite")
    config = with_runner(away, {tuple(snapshots): (0, offsite_snapshots_json(EIGHT, NINE), "")})
    config.run.results.update({
        tuple(offsite(away, "restore", "00000002" * 8, f"--target={folder.parent}/.{folder.name}"
                      f".fetching", f"--include={folder}")): restoring
        for folder in (Path(away.database_repository), Path(away.media_repository))
    })  # fmt: skip
    lines = []
    backup.fetch_offsite(config, log=lines.append)
    for folder in (Path(away.database_repository), Path(away.media_repository)):
        assert (folder / "config").read_text() == f"{folder.name} off-site"
        kept = folder.with_name(f"{folder.name}.before-fetch")
        assert (kept / "config").read_text() == f"{folder.name} now"
        assert not folder.with_name(f".{folder.name}.fetching").exists()
    assert lines[0].startswith(f"{away.database_repository}: the off-site snapshot 00000002")


def test_a_snapshot_without_a_repository_changes_nothing(away):
    snapshots = offsite(away, "snapshots", "--json", "--tag=offsite")
    config = with_runner(away, {tuple(snapshots): (0, offsite_snapshots_json(EIGHT), "")})
    with pytest.raises(backup.Failed, match="off-site snapshot 00000001 holds no"):
        backup.fetch_offsite(config)
    assert (Path(away.database_repository) / "config").read_text() == "pgbackrest now"
    assert not Path(f"{away.database_repository}.before-fetch").exists()


def test_an_offsite_copy_with_no_snapshot_is_refused(away):
    with pytest.raises(backup.Failed, match="holds no snapshot yet"):
        backup.fetch_offsite(away)


def test_list_shows_the_offsite_snapshots_and_names_an_unreachable_store(away):
    snapshots = offsite(away, "snapshots", "--json", "--tag=offsite")
    config = with_runner(away, {tuple(snapshots): (0, offsite_snapshots_json(EIGHT, NINE), "")})
    listed = backup.listing(config)
    assert listed["offsite_repository"] == OFFSITE
    assert [s["id"] for s in listed["offsite"]] == ["00000001", "00000002"]
    down = with_runner(
        away, {tuple(snapshots): (1, "", "ssh: connect to host: Connection refused")}
    )
    listed = backup.listing(down)
    assert listed["offsite"] is None and "Connection refused" in listed["errors"]["offsite"]
