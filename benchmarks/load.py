"""Keep requesting pages and count what failed: the load a deploy must not disturb.

    python -m benchmarks.load https://example.com/health/ https://example.com/api/articles/ \\
        [--connect ADDRESS] [--cafile PEM] [--concurrency 4] [--duration SECONDS]

Runs until --duration has passed or it gets SIGTERM/SIGINT, then prints one
JSON object: requests made, failed ones (connection errors, timeouts, any
status but 200) with the first few reasons, the longest time without a
successful response, and how many responses each app version served (from
the "version" field of /health/). Every request opens a new connection, as
most clients do, so nginx's handling of new connections is measured too.
--connect sends every request to ADDRESS instead of the address the URL's
name resolves to, still for that name (Host header, TLS server name and
certificate check); --cafile trusts the CA in PEM besides the system's.
Standard library only: it runs wherever the project's Python does.
"""

import argparse
import http.client
import json
import signal
import socket
import ssl
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


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``address`` for the URL's name: its SNI, certificate check and Host."""

    def __init__(self, name, address, port, **options):
        super().__init__(name, port, **options)
        self.address = address

    def connect(self):
        plain = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(plain, server_hostname=self.host)


def fetch(url, connect=None, context=None):
    """(status, body) of one GET on a fresh connection (and TLS session)."""
    parts = urlsplit(url)
    address = connect or parts.hostname
    if parts.scheme == "https":
        connection = PinnedHTTPSConnection(
            parts.hostname, address, parts.port or 443, context=context, timeout=TIMEOUT
        )
    else:
        connection = http.client.HTTPConnection(address, parts.port or 80, timeout=TIMEOUT)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers={"Host": parts.netloc})
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


def keep_requesting(urls, connect, context, tally, stop):
    turn = 0
    while not stop.is_set():
        url = urls[turn % len(urls)]
        turn += 1
        try:
            status, body = fetch(url, connect, context)
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

    def __init__(self, urls, connect=None, cafile=None, concurrency=4):
        self.command = [sys.executable, "-m", "benchmarks.load", *urls]
        self.command += [f"--concurrency={concurrency}", f"--duration={self.LONGEST}"]
        self.command += [f"--connect={connect}"] if connect else []
        self.command += [f"--cafile={cafile}"] if cafile else []
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
    parser.add_argument("--connect", help="the address to send requests to (default: the URL's)")
    parser.add_argument("--cafile", help="a CA certificate (PEM) to trust besides the system's")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, help="seconds; default: until SIGTERM")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    tally = Tally()
    context = ssl.create_default_context()
    if args.cafile:
        context.load_verify_locations(args.cafile)
    threads = [
        threading.Thread(
            target=keep_requesting, args=(args.urls, args.connect, context, tally, stop)
        )
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
