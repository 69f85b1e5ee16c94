"""Checks a provisioned server as the app will use it, and as an intruder would try it.

    lab exec web1 python provisioning/test/check_server.py --server 127.1.0.11 \\
        --ssh-key KEY --known-hosts FILE --app NAME [--site NAME [--ca-file PEM]]

Runs inside the server's network namespace (its services listen on its own
loopback). Reads the app's env file over SSH, connects to PostgreSQL, Redis
and RabbitMQ with the credentials it holds, and tries the logins that must be
refused. With --site, also asks nginx for the site over HTTPS (its
certificate checked, against --ca-file if given) and plain HTTP, and for an
unknown name.
Prints one line per check ("check: ok|FAIL DESCRIPTION", then " | ERROR" when
the check raised one) and exits 1 when any failed. A refusal counts only
when the service says so (an authentication or access error): a reset, a
timeout or a missing database is not a refusal.
"""

import argparse
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator

import amqp.exceptions
import psycopg
import redis
from kombu import Connection

LOOPBACK = "127.0.0.1"
# /proc/net/tcp{,6} addresses: hex, in the kernel's byte order (x86: reversed words).
LOOPBACK_HEX = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
LISTEN = "0A"
PUBLIC_PORTS = {22, 80, 443}

Check = tuple[str, Callable[[], bool]]


def ssh(options, command: str) -> str:
    result = subprocess.run(  # noqa: S603 -- fixed arguments and our own command
        [
            shutil.which("ssh"),
            "-i",
            options.ssh_key,
            "-o",
            f"UserKnownHostsFile={options.known_hosts}",
            "-o",
            "BatchMode=yes",
            f"root@{options.server}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def env_values(output: str) -> dict:
    """The variables ``env -0`` printed: the env file as the app's shell reads it."""
    return dict(item.split("=", 1) for item in output.split("\0") if "=" in item)


def public_listeners(table: str) -> Iterator[int]:
    """The ports listening on other addresses than loopback, but ssh's and nginx's."""
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN:
            continue
        address, port = fields[1].split(":")
        if address not in LOOPBACK_HEX and int(port, 16) not in PUBLIC_PORTS:
            yield int(port, 16)


def refused(
    attempt: Callable[[], object], *refusals: type[BaseException], saying: str = ""
) -> bool:
    """True when ``attempt`` fails with one of ``refusals`` (whose text holds ``saying``).

    Any other outcome, success or another error, is not a refusal: it propagates
    or returns False, and the check fails.
    """
    try:
        attempt()
    except refusals as error:
        return saying in str(error)
    return False


def with_password(url: str, password: str) -> str:
    """``url`` (scheme://user:password@host...) with another password."""
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}{':' + password if password else ''}@{host}"


def postgresql_checks(env: dict, app: str) -> Iterator[Check]:
    url = env["DATABASE_URL"]

    def logs_in_as_the_app() -> bool:
        with psycopg.connect(url, connect_timeout=5) as db:
            row = db.execute("SELECT current_user, current_database()").fetchone()
        return row == (app, app)

    def connect(candidate: str) -> Callable[[], None]:
        return lambda: psycopg.connect(candidate, connect_timeout=5).close()

    yield f"PostgreSQL: the env file logs in as role {app} to database {app}", logs_in_as_the_app
    # The server must ask for a password and check it: with pg_hba "trust" both get in.
    yield (
        "PostgreSQL: a wrong password is refused",
        lambda: refused(
            connect(with_password(url, "wrong")),
            psycopg.OperationalError,
            saying="password authentication failed",
        ),
    )
    yield (
        "PostgreSQL: a login without a password is refused",
        lambda: refused(
            connect(with_password(url, "")), psycopg.OperationalError, saying="no password supplied"
        ),
    )


def redis_checks(env: dict) -> Iterator[Check]:
    def client(url: str) -> redis.Redis:
        return redis.Redis.from_url(url, socket_timeout=5)

    yield "Redis: answers with the generated password", lambda: client(env["REDIS_URL"]).ping()
    yield (
        "Redis: listens on loopback only",
        lambda: client(env["REDIS_URL"]).config_get("bind")["bind"] == "127.0.0.1 -::1",
    )
    yield (
        "Redis: refuses clients without the password",
        lambda: refused(
            redis.Redis(host=LOOPBACK, socket_timeout=5).ping, redis.AuthenticationError
        ),
    )
    yield (
        "Redis: refuses a wrong password",
        lambda: refused(
            client(with_password(env["REDIS_URL"], "wrong")).ping, redis.AuthenticationError
        ),
    )


def rabbitmq_checks(env: dict) -> Iterator[Check]:
    url = env["CELERY_BROKER_URL"]

    def connect(candidate: str) -> Callable[[], None]:
        def attempt():
            with Connection(candidate, connect_timeout=10) as broker:
                broker.ensure_connection(max_retries=0)

        return attempt

    def logs_in() -> bool:
        connect(url)()
        return True

    yield "RabbitMQ: the app's user logs in to its virtual host", logs_in
    yield (
        "RabbitMQ: the app's user is refused on the default virtual host",
        lambda: refused(connect(url.rsplit("/", 1)[0] + "//"), amqp.exceptions.NotAllowed),
    )
    yield (
        "RabbitMQ: the guest user is gone",
        lambda: refused(
            connect(f"amqp://guest:guest@{LOOPBACK}:5672//"), amqp.exceptions.AccessRefused
        ),
    )


def site_checks(site: str, ca_file: str | None) -> Iterator[Check]:
    request = f"GET /health/ HTTP/1.1\r\nHost: {site}\r\nConnection: close\r\n\r\n".encode()

    def ask(host: str) -> bytes:
        with socket.create_connection((LOOPBACK, 80), timeout=5) as web:
            web.sendall(request.replace(site.encode(), host.encode(), 1))
            return web.recv(1024)

    def ask_tls(host: str) -> bytes:
        context = ssl.create_default_context(cafile=ca_file)
        with (
            socket.create_connection((LOOPBACK, 443), timeout=5) as plain,
            context.wrap_socket(plain, server_hostname=host) as web,
        ):
            web.sendall(request.replace(site.encode(), host.encode(), 1))
            return web.recv(1024)

    yield (
        f"nginx: the site answers over HTTPS for {site}, with a valid certificate",
        lambda: ask_tls(site).startswith(b"HTTP/1.1 200 "),
    )
    yield (
        f"nginx: plain HTTP for {site} is redirected to HTTPS",
        lambda: (
            ask(site).startswith(b"HTTP/1.1 301 ")
            and f"\r\nLocation: https://{site}/health/\r\n".encode() in ask(site)
        ),
    )
    # nginx's 444: close the connection without a word.
    yield (
        "nginx: connections for unknown host names are closed unanswered",
        lambda: ask("unknown.example") == b"",
    )
    # No certificate is shown for a name the site does not serve.
    yield (
        "nginx: TLS handshakes for unknown host names are refused",
        lambda: refused(
            lambda: ask_tls("unknown.example"), ssl.SSLError, saying="UNRECOGNIZED_NAME"
        ),
    )


def checks(options) -> Iterator[Check]:
    app = options.app
    env_path = f"/etc/{app}/env"
    mode_owner = ssh(options, f"stat -c '%a %U %G' {env_path}").split()
    yield (
        f"env file is mode 0640, root's, in group {app}",
        lambda: mode_owner == ["640", "root", app],
    )
    env = env_values(ssh(options, f"env -i /bin/sh -c 'set -a; . {env_path}; exec env -0'"))
    required = {
        "DJANGO_ENV",
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
    }
    yield (
        "env file holds every variable the deployment settings require",
        lambda: required <= env.keys(),
    )
    yield "the secret key is long and generated", lambda: len(env["DJANGO_SECRET_KEY"]) >= 50
    yield from postgresql_checks(env, app)
    yield from redis_checks(env)
    yield from rabbitmq_checks(env)

    def exposed() -> list[int]:
        return sorted(set(public_listeners(ssh(options, "cat /proc/net/tcp /proc/net/tcp6"))))

    yield "only ssh and nginx listen beyond loopback", lambda: not exposed()
    if options.site:
        yield from site_checks(options.site, options.ca_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the server's address, for SSH")
    parser.add_argument("--ssh-key", required=True)
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--app", required=True, help="the app's name: user, role, database")
    parser.add_argument("--site", help="a server name the deployed site answers to")
    parser.add_argument("--ca-file", help="the CA certificate (PEM) the site's chains to")
    options = parser.parse_args()
    failed = 0
    for description, check in checks(options):
        try:
            passed, detail = bool(check()), ""
        except Exception as error:  # noqa: BLE001 -- reported: the check failed
            passed, detail = False, f" | {type(error).__name__}: {error}".replace("\n", " ")
        failed += not passed
        print(f"check: {'ok  ' if passed else 'FAIL'} {description}{detail}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
