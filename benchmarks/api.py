"""``make bench-api``: how fast gunicorn, as configured in conf/, serves the API.

Serves the project under the deployment settings from a PostgreSQL database
holding 10,000 articles, loads three endpoints with wrk on loopback, and prints
requests per second and latency percentiles (of the median of several runs),
with persistent database connections (what the settings use) and with
Django's connection pool.
The table also goes to benchmarks/results/api.json.

Needs PostgreSQL, Redis and RabbitMQ (the deployment settings require all
three); set BENCH_DATABASE_URL, BENCH_REDIS_URL and BENCH_BROKER_URL to use
other servers than the local defaults below. The database is created and
filled when missing; the benchmark never touches DATABASE_URL's database.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks.record import record

ROOT = Path(__file__).resolve().parent.parent
ROWS = 10_000
DURATION = int(os.environ.get("BENCH_SECONDS", 10))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", 16))
# Each variant is measured this many times, taking turns, and the median run
# is reported: one run alone is at the mercy of whatever else the machine does.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
# The liveness endpoint load balancers ask (no service touched), the detailed
# health report (database, cache, broker and search checked) and an API page.
ENDPOINTS = ("/health/live/", "/health/", "/api/articles/")
VARIANTS = {
    "persistent connections": "{{ project_name }}.settings",
    "connection pool": "benchmarks.pool_settings",
}
ENVIRONMENT = {
    "DJANGO_ENV": "deployment",
    "DJANGO_SECRET_KEY": "bench-" + "k" * 60,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/{{ project_name }}_bench"
    ),
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
    "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}


def fail(message):
    sys.exit(f"bench-api: {message}")


def create_database(url):
    """Create the benchmark's database when the server does not have it yet."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        fail(f"cannot reach PostgreSQL at {maintenance} ({exc}); set BENCH_DATABASE_URL")


def fill_database():
    """Migrate the benchmark's database and give it exactly ROWS articles."""
    os.environ.update(ENVIRONMENT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "{{ project_name }}.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from {{ project_name }}.apps.articles.models import Article
    from {{ project_name }}.apps.users.models import User

    call_command("migrate", verbosity=0)
    if Article.objects.count() != ROWS:
        Article.objects.all().delete()
        author, _ = User.objects.get_or_create(username="bench")
        Article.objects.bulk_create(
            Article(title=f"Article {n}", body="Lorem ipsum dolor sit amet. " * 20, author=author)
            for n in range(ROWS)
        )


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """gunicorn with conf/gunicorn.py, on a free loopback port, under ``settings``."""

    def __init__(self, settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {
            **os.environ,
            **ENVIRONMENT,
            "DJANGO_SETTINGS_MODULE": settings,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "conf/gunicorn.py", "{{ project_name }}.wsgi"],
            cwd=ROOT,
            env=environ,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until_healthy(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                fail(f"gunicorn exited: {self.process.stderr.read()}")
            try:
                health = f"{self.url}/health/"
                with urllib.request.urlopen(health, timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        fail(f"{self.url}/health/ did not answer 200 within {timeout} s")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def wrk(url, seconds):
    """Load ``url`` with wrk; return its figures."""
    result = subprocess.run(  # noqa: S603 -- fixed arguments, our own URL
        [shutil.which("wrk"), "--latency", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(result.stdout)


def parse_wrk(output):
    def milliseconds(value, unit):
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    percentiles = {
        int(p): milliseconds(v, u)
        for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    }
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": percentiles[50],
        "p99_ms": percentiles[99],
        "requests": requests,
        "failed": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def main():
    if not shutil.which("wrk"):
        fail("wrk is not installed (Debian/Ubuntu: sudo apt install wrk)")
    create_database(ENVIRONMENT["DATABASE_URL"])
    fill_database()
    runs = {}
    for _ in range(ROUNDS):
        for variant, settings in VARIANTS.items():
            server = Gunicorn(settings)
            try:
                server.wait_until_healthy()
                for path in ENDPOINTS:
                    wrk(server.url + path, 2)  # warm-up: every worker connected and loaded
                    runs.setdefault((variant, path), []).append(wrk(server.url + path, DURATION))
            finally:
                server.stop()
    rows = []
    for (variant, path), measured in runs.items():
        median = sorted(measured, key=lambda run: run["requests_per_second"])[len(measured) // 2]
        rows.append({"variant": variant, "endpoint": path, **median, "runs": measured})
    report(rows)


def report(rows):
    header = (
        f"{'variant':<24} {'endpoint':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['variant']:<24} {row['endpoint']:<16} {row['requests_per_second']:>9.1f} "
            f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['failed']:>7}"
        )
    path = record(
        "api",
        {
            "load": {
                "tool": "wrk",
                "threads": 2,
                "connections": CONNECTIONS,
                "seconds": DURATION,
                "rounds": ROUNDS,
            },
            "rows": ROWS,
            "results": rows,
        },
    )
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
