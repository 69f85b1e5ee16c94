"""Checks a provisioned server from the outside, as the app will use it.

Reads the app's env file over SSH, then connects to PostgreSQL, Redis and
RabbitMQ with the credentials it holds, and makes sure the defaults that
must be gone are gone. Run by ./run inside the test server's namespace;
prints one line per check and exits non-zero at the first failure.
"""

import argparse
import shutil
import socket
import subprocess
import sys

import psycopg
import redis
from kombu import Connection

SERVER = "127.0.0.1"


def ssh(options, command):
    result = subprocess.run(  # noqa: S603 -- fixed arguments and our own command
        [
            shutil.which("ssh"),
            "-i",
            options.ssh_key,
            "-o",
            f"UserKnownHostsFile={options.known_hosts}",
            "-o",
            "BatchMode=yes",
            f"root@{SERVER}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def env_file(text):
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


# /proc/net/tcp{,6} addresses: hex, in the kernel's byte order (x86: reversed words).
LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
LISTEN = "0A"
PUBLIC_PORTS = {22, 80}


def public_listeners(table):
    """The ports listening on other addresses than loopback, but ssh's and nginx's."""
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN:
            continue
        address, port = fields[1].split(":")
        if address not in LOOPBACK and int(port, 16) not in PUBLIC_PORTS:
            yield int(port, 16)


def refused(attempt):
    """True when ``attempt`` raises: a login that must fail."""
    try:
        attempt()
    except Exception:  # noqa: BLE001 -- any refusal will do
        return True
    return False


def checks(options):
    mode_owner = ssh(options, f"stat -c '%a %U' {options.env_file}").split()
    yield "env file is mode 0600, owned by the app user", mode_owner == ["600", options.app_user]
    env = env_file(ssh(options, f"cat {options.env_file}"))
    required = {
        "DJANGO_ENV",
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
    }
    yield "env file holds every variable the deployment settings require", required <= env.keys()
    yield "the secret key is long and generated", len(env["DJANGO_SECRET_KEY"]) >= 50

    with psycopg.connect(env["DATABASE_URL"], connect_timeout=5) as db:
        user, database = db.execute("SELECT current_user, current_database()").fetchone()
    yield f"PostgreSQL: logged in as {user} to {database} with the generated password", True
    wrong = env["DATABASE_URL"].replace("://", "://x", 1)
    yield "PostgreSQL: a wrong role is refused", refused(lambda: psycopg.connect(wrong).close())

    cache = redis.Redis.from_url(env["REDIS_URL"], socket_timeout=5)
    yield "Redis: answers with the generated password", cache.ping()
    yield "Redis: listens on loopback only", cache.config_get("bind")["bind"] == "127.0.0.1 -::1"
    anonymous = redis.Redis(host=SERVER, socket_timeout=5)
    yield "Redis: refuses clients without the password", refused(anonymous.ping)

    with Connection(env["CELERY_BROKER_URL"], connect_timeout=10) as broker:
        broker.ensure_connection(max_retries=0)
    yield "RabbitMQ: the app's user logs in to its virtual host", True
    guest = Connection(f"amqp://guest:guest@{SERVER}:5672//", connect_timeout=10)
    yield (
        "RabbitMQ: the guest user is gone",
        refused(lambda: guest.ensure_connection(max_retries=0)),
    )

    exposed = sorted(set(public_listeners(ssh(options, "cat /proc/net/tcp /proc/net/tcp6"))))
    yield (
        f"only ssh and nginx listen beyond loopback{f': also {exposed}' if exposed else ''}",
        not exposed,
    )

    with socket.create_connection((SERVER, 80), timeout=5) as web:
        web.sendall(b"GET / HTTP/1.1\r\nHost: unknown.example\r\nConnection: close\r\n\r\n")
        answer = web.recv(1024)
    yield "nginx: port 80 closes connections for unknown host names (444)", answer == b""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ssh-key", required=True)
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--app-user", required=True)
    parser.add_argument("--env-file", required=True)
    options = parser.parse_args()
    for description, passed in checks(options):
        print(f"e2e:   {'ok  ' if passed else 'FAIL'} {description}")
        if not passed:
            sys.exit(1)


if __name__ == "__main__":
    main()
