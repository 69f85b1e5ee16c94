"""The generated project's `make bench-deploy` runs, and shows what it is there to show."""

import json
import os

import pytest
from conftest import PROJECT, VENV_BIN, commit, generate, run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts and nspawn"),
]


def test_make_bench_deploy_compares_our_order_with_the_naive_one_and_measures_backups(tmp_path):
    project = generate(tmp_path)
    (project / "benchmarks" / "results" / "deploy.json").unlink()
    # The build archives a commit, and refuses a checkout with changes.
    commit(project, "A new project")
    result = run(["make", "bench-deploy", f"VENV={VENV_BIN.parent}"], cwd=project, timeout=1800)
    print(result.stdout)
    assert "ours (start beside, switch)" in result.stdout
    written = json.loads((project / "benchmarks" / "results" / "deploy.json").read_text())
    naive, ours = written["rows"]
    for row in (naive, ours):
        assert 0 < row["warm_deploy_current_after_s"] <= row["warm_deploy_s"]
        assert 0 < row["rollback_current_after_s"] <= row["rollback_s"]
        assert row["under_load"]["deploy"]["requests"] > 0
    assert ours["under_load"]["deploy"]["failed"] == 0
    assert ours["under_load"]["rollback"]["failed"] == 0
    # What the naive order costs: the site is down while the app restarts.
    naive_load, ours_load = naive["under_load"]["deploy"], ours["under_load"]["deploy"]
    assert naive_load["failed"] > 0
    assert naive_load["longest_gap_ms"] > ours_load["longest_gap_ms"]
    # The backups of the 10,000-article database, and the table printing them.
    figures = written["backups"]
    assert figures["articles"] == 10_000 and figures["database_bytes"] > 0
    assert 0 < figures["incremental_stored_bytes"] < figures["full_backup_stored_bytes"]
    assert figures["full_backup_s"] > 0 and figures["restore_s"] > 0
    assert figures["archive_timeout_s"] == 60
    assert 0 < figures["wal_push_s"] <= figures["rpo_bound_s"]
    # Left to archive_timeout alone, a commit is archived within it (and the push).
    assert figures["rpo_sample_s"] <= figures["archive_timeout_s"] + 5
    assert "restore, fab restore --at=now (RTO)" in result.stdout
    assert f"{PROJECT}-lab" not in run(["ip", "netns", "list"], cwd=project).stdout
