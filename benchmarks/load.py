"""Keep requesting pages and count what failed: the load a deploy must not disturb.

    python -m benchmarks.load http://127.0.0.1/health/ http://127.0.0.1/api/articles/ \\
        [--host NAME] [--concurrency 4] [--duration SECONDS]

Runs until --duration has passed or it gets SIGTERM/SIGINT, then prints one
JSON object: requests made, failed ones (connection errors, timeouts, any
status but 200) with the first few reasons, the longest time without a
successful response, and how many responses each app version served (from
the "version" field of /health/). Every request opens a new connection, as
most clients do, so nginx's handling of new connections is measured too.
Standard library only: it runs wherever the project's Python does.
"""

import argparse
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

TIMEOUT = 10


class Tally:
    """The counts the request threads share."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        self.first_failures = []
        self.versions = Counter()
        self.started = time.monotonic()
        self.last_success = self.started
        self.longest_gap = 0.0

    def success(self, version):
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            self.longest_gap = max(self.longest_gap, now - self.last_success)
            self.last_success = now
            if version:
                self.versions[version] += 1

    def failure(self, url, reason):
        with self.lock:
            self.requests += 1
            self.failed += 1
            if len(self.first_failures) < 5:
                self.first_failures.append(f"{url}: {reason}")

    def report(self):
        now = time.monotonic()
        with self.lock:
            gap = max(self.longest_gap, now - self.last_success)
            return {
                "seconds": round(now - self.started, 2),
                "requests": self.requests,
                "failed": self.failed,
                "first_failures": self.first_failures,
                "longest_gap_ms": round(gap * 1000, 1),
                "versions": dict(self.versions),
            }


def fetch(url, host):
    """(status, body) of one GET on a fresh connection."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers={"Host": host or parts.netloc})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def version_of(body):
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("version") if isinstance(value, dict) else None


def keep_requesting(urls, host, tally, stop):
    turn = 0
    while not stop.is_set():
        url = urls[turn % len(urls)]
        turn += 1
        try:
            status, body = fetch(url, host)
        except (OSError, http.client.HTTPException) as error:
            tally.failure(url, f"{type(error).__name__}: {error}")
            continue
        if status == 200:
            tally.success(version_of(body))
        else:
            tally.failure(url, f"HTTP {status}")


class Background:
    """This load generator in a subprocess: ``with Background(urls) as load: ...; load.report``."""

    # A bound on every run, in seconds: a caller that never stops it stops anyway.
    LONGEST = 900

    def __init__(self, urls, host=None, concurrency=4):
        self.command = [sys.executable, "-m", "benchmarks.load", *urls]
        self.command += [f"--concurrency={concurrency}", f"--duration={self.LONGEST}"]
        self.command += [f"--host={host}"] if host else []
        self.report = None

    def __enter__(self):
        self.process = subprocess.Popen(  # noqa: S603 -- this module, fixed arguments
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # The first line says it runs; anything else (or nothing: it died) is a failure.
        ready = self.process.stderr.readline()
        if ready.strip() != "load: running":
            self.process.kill()
            out, err = self.process.communicate(timeout=60)
            raise RuntimeError(f"the load generator did not start: {ready}{err}{out}")
        return self

    def __exit__(self, *exc_info):
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        if self.process.returncode != 0:
            raise RuntimeError(f"the load generator failed: {err}")
        self.report = json.loads(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="+", help="pages to request, in turn")
    parser.add_argument("--host", help="Host header (default: the URL's)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, help="seconds; default: until SIGTERM")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    tally = Tally()
    threads = [
        threading.Thread(target=keep_requesting, args=(args.urls, args.host, tally, stop))
        for _ in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()
    # Ready: whoever started this may begin what it wants measured.
    print("load: running", file=sys.stderr, flush=True)
    stop.wait(args.duration)
    stop.set()
    for thread in threads:
        thread.join()
    print(json.dumps(tally.report()), flush=True)


if __name__ == "__main__":
    main()
