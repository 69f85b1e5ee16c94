"""The generated project's benchmark still runs (briefly); README figures come from full runs."""

import json
import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from conftest import PROJECT, SERVICE_VARIABLES, VENV_BIN, run


def test_make_bench_api_prints_and_writes_its_table(project):
    services = {name: os.environ.get(name, "") for name in SERVICE_VARIABLES}
    if not all(services.values()):
        pytest.skip(f"set {', '.join(SERVICE_VARIABLES)} (as .ci/run does) to run this")
    database = urlsplit(services["DATABASE_URL"])._replace(path=f"/{PROJECT}_bench_check")
    result = run(
        ["make", "bench-api", f"VENV={VENV_BIN.parent}"],
        cwd=project,
        timeout=600,
        BENCH_SECONDS="1",
        BENCH_ROUNDS="1",
        BENCH_DATABASE_URL=urlunsplit(database),
        BENCH_REDIS_URL=services["REDIS_URL"],
        BENCH_BROKER_URL=services["CELERY_BROKER_URL"],
    )
    assert "req/s" in result.stdout
    written = json.loads((project / "benchmarks" / "results" / "api.json").read_text())
    assert written["rows"] == 10_000
    assert written["load"]["rounds"] == 1
    measured = {(row["variant"], row["endpoint"]) for row in written["results"]}
    assert measured == {
        (variant, endpoint)
        for variant in ("persistent connections", "connection pool")
        for endpoint in ("/health/live/", "/health/", "/api/articles/")
    }
    for row in written["results"]:
        assert row["requests_per_second"] > 0
        assert row["failed"] == 0, row
        assert 0 < row["p50_ms"] <= row["p99_ms"]
