"""The generated project's `make bench-deploy` runs, and shows what it is there to show."""

import json
import os

import pytest
from conftest import PROJECT, VENV_BIN, commit, generate, run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts and nspawn"),
]


def test_make_bench_deploy_compares_our_order_with_the_naive_one(tmp_path):
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
    assert f"{PROJECT}-lab" not in run(["ip", "netns", "list"], cwd=project).stdout
