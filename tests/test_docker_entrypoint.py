"""docker/entrypoint, the script every container of docker-compose.yml starts with.

CI has no Docker engine: the script runs here on the host, as the container would run it.
"""

import subprocess

import pytest

from .helpers import PROJECT_ROOT, clean_environ


def entrypoint(*command, **environ):
    return subprocess.run(
        [str(PROJECT_ROOT / "docker" / "entrypoint"), *command],
        cwd=PROJECT_ROOT,
        env=clean_environ(**environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_runs_the_containers_command():
    result = entrypoint("sh", "-c", "echo started; exit 3")
    assert result.returncode == 3
    assert result.stdout == "started\n"


@pytest.mark.django_db
def test_it_prepares_database_and_indexes_first_when_asked(tmp_path, elasticsearch):
    database = tmp_path / "fresh.sqlite3"
    result = entrypoint(
        "echo",
        "started",
        DJANGO_PREPARE_ON_START="1",
        DATABASE_URL=f"sqlite:///{database}",
        ELASTICSEARCH_URL=elasticsearch.url,
        SEARCH_INDEX_PREFIX="test",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  Applying articles.0002_search_index... OK" in lines
    assert lines[-2].startswith("test-article: created test-article-")
    assert lines[-1] == "started"
    assert elasticsearch.alias_indexes("test-article")


def test_a_failed_preparation_stops_the_container(tmp_path):
    result = entrypoint(
        "echo",
        "started",
        DJANGO_PREPARE_ON_START="1",
        DATABASE_URL=f"sqlite:///{tmp_path}/missing/folder/db.sqlite3",
    )
    assert result.returncode != 0
    assert "started" not in result.stdout
