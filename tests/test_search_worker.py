"""A real Celery worker on the real RabbitMQ keeps the search index in sync."""

import os
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection

from {{ project_name }}.apps.search.backends.elasticsearch import external_version

from .helpers import PROJECT_ROOT, clean_environ


def database_url(settings_dict):
    """A DATABASE_URL for the database this test process uses."""
    user = quote(settings_dict["USER"] or "")
    password = quote(settings_dict["PASSWORD"] or "")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict["HOST"] or "127.0.0.1"
    return f"postgres://{credentials}{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


class Worker:
    """``celery worker`` in a subprocess, its output collected line by line."""

    def __init__(self, **environ):
        self.lines = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "{{ project_name }}",
                "worker",
                "--pool=solo",
                "--purge",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=PROJECT_ROOT,
            env=clean_environ(**environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self.collect, daemon=True).start()

    def collect(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def output(self):
        return "\n".join(self.lines)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_for(condition, what, worker, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"waited in vain for {what}; the worker said:\n{worker.output()}")
        time.sleep(0.1)


@pytest.mark.service("postgresql")
@pytest.mark.service("rabbitmq")
@pytest.mark.django_db(transaction=True)
def test_a_worker_syncs_saves_and_deletes_and_retries_a_failure(elasticsearch, make_article):
    call_command("create_indexes")
    worker = Worker(
        DATABASE_URL=database_url(connection.settings_dict),
        CELERY_BROKER_URL=os.environ["CELERY_BROKER_URL"],
        ELASTICSEARCH_URL=elasticsearch.url,
        SEARCH_INDEX_PREFIX="test",
    )
    try:
        wait_for(lambda: " ready." in worker.output(), "the worker to be ready", worker)
        bulks = lambda: elasticsearch.sent("PUT", "/_bulk")  # noqa: E731

        elasticsearch.fail("PUT", "/_bulk", 503)
        article = make_article("Indexed by the worker")
        wait_for(lambda: len(bulks()) == 2, "the failed write and its retry", worker)
        version = external_version(article.updated_at)
        assert [request.body[0] for request in bulks()] == 2 * [
            {
                "index": {
                    "_index": "test-article",
                    "_id": str(article.pk),
                    "version": version,
                    "version_type": "external_gte",
                }
            }
        ]
        assert "retry: Retry in" in worker.output()

        pk = article.pk
        article.delete()
        wait_for(lambda: len(bulks()) == 3, "the delete", worker)
        ((delete,),) = [action.values() for action in bulks()[2].body]
        assert delete.pop("version") > version
        assert delete == {"_index": "test-article", "_id": str(pk), "version_type": "external_gte"}
        assert elasticsearch.stored("test-article") == {}
    finally:
        worker.stop()
