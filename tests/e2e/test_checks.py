"""Each server check fails when what it checks is broken: none passes whatever happens.

The story's last scenario. One thing after another is broken on the deployed
server, and after each the checks that check it, and only those, must turn
to FAIL. The server is thrown away after it.
"""

import pytest

from .conftest import NAME, WEB, check_lines, check_server

ENV = f"/etc/{NAME}/env"
# redis.conf holds only its hash: the password is the app's, in its URL.
REDIS_PASSWORD = f"\"$(sed -n 's|^REDIS_URL=redis://:\\(.*\\)@.*|\\1|p' {ENV})\""
# (what is broken, the shell command on the server that breaks it, the checks that must fail)
BREAKAGES = [
    ("env file readable by all", f"chmod 0644 {ENV}", ["env file is mode 0640"]),
    (
        "env file without a variable",
        f"sed -i '/^DJANGO_ALLOWED_HOSTS=/d' {ENV}",
        ["env file holds every variable"],
    ),
    (
        "a short secret key",
        f"sed -i 's/^DJANGO_SECRET_KEY=.*/DJANGO_SECRET_KEY=short/' {ENV}",
        ["the secret key is long"],
    ),
    (
        "the env file names another database",
        # Quoted by provisioning only when the value needs it.
        f'sed -i "s#^\\(DATABASE_URL=.*\\)/{NAME}\\(\'\\?\\)\\$#\\1/postgres\\2#" {ENV}',
        ["PostgreSQL: the env file logs in"],
    ),
    (
        "PostgreSQL trusts every login",
        "sed -i -E 's/(scram-sha-256|md5|peer)$/trust/' /etc/postgresql/*/main/pg_hba.conf"
        " && systemctl reload postgresql",
        ["PostgreSQL: a wrong password", "PostgreSQL: a login without a password"],
    ),
    (
        "Redis on every address",
        f"redis-cli -a {REDIS_PASSWORD} --no-auth-warning config set bind '* -::*'",
        ["Redis: listens on loopback only", "only ssh and nginx listen"],
    ),
    # Before Redis and RabbitMQ refuse the app: its /health/ checks them, so the
    # site would fail with them.
    ("the app stopped", "supervisorctl stop all", ["nginx: the site answers"]),
    (
        "Redis with another password",
        f"redis-cli -a {REDIS_PASSWORD} --no-auth-warning config set requirepass another",
        ["Redis: answers with the generated password"],
    ),
    (
        "Redis without a password",
        "redis-cli -a another --no-auth-warning config set requirepass ''",
        ["Redis: refuses a wrong password", "Redis: refuses clients without"],
    ),
    (
        "the app's broker user on every virtual host",
        f"rabbitmqctl -q set_permissions -p / {NAME} '.*' '.*' '.*'",
        ["RabbitMQ: the app's user is refused on the default"],
    ),
    (
        "RabbitMQ's guest user back",
        "rabbitmqctl -q add_user guest guest && rabbitmqctl -q set_permissions -p / guest"
        " '.*' '.*' '.*'",
        ["RabbitMQ: the guest user is gone"],
    ),
    (
        "the app's virtual host gone",
        f"rabbitmqctl -q delete_vhost {NAME}",
        ["RabbitMQ: the app's user logs in"],
    ),
    (
        "plain HTTP redirected for a moment only",
        f"sed -i 's/return 301 https/return 302 https/' /etc/nginx/conf.d/{NAME}-tls.conf"
        " && systemctl reload nginx",
        ["nginx: plain HTTP for"],
    ),
    (
        "the site's certificate shown for any name",
        f"sed -i 's|ssl_reject_handshake on;|ssl_certificate /etc/letsencrypt/live/{NAME}/"
        f"fullchain.pem; ssl_certificate_key /etc/letsencrypt/live/{NAME}/privkey.pem;|'"
        f" /etc/nginx/conf.d/{NAME}-tls.conf && systemctl reload nginx",
        ["nginx: TLS handshakes for unknown"],
    ),
    (
        "no default server in nginx",
        "rm /etc/nginx/conf.d/default-server.conf && systemctl reload nginx",
        ["nginx: connections for unknown host names"],
    ),
]
failing_before: set = set()


@pytest.fixture(scope="module")
def intact(lab, web, project):
    """The checks on the deployed server before anything is broken: all pass."""
    checks = check_lines(check_server(lab, web, site=WEB))
    assert checks and all(checks.values()), checks
    return checks


@pytest.mark.parametrize(
    ("command", "expected"),
    [(command, expected) for _, command, expected in BREAKAGES],
    ids=[what for what, _, _ in BREAKAGES],
)
def test_a_check_fails_when_broken(lab, web, intact, command, expected):
    broken = lab.ssh(web, command, check=False)
    assert broken.returncode == 0, f"breaking it failed: {broken.stderr}"
    result = check_server(lab, web, site=WEB)
    checks = check_lines(result)
    assert checks.keys() == intact.keys(), result.stdout + result.stderr
    failing = {name for name, passed in checks.items() if not passed}
    newly = sorted(failing - failing_before)
    assert len(newly) == len(expected), result.stdout
    for name, prefix in zip(newly, sorted(expected), strict=True):
        assert name.startswith(prefix), result.stdout
    assert result.returncode == 1
    failing_before.update(failing)


def test_every_check_was_seen_failing(intact):
    assert failing_before == set(intact), set(intact) - failing_before
