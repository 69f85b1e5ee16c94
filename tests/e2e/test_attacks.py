"""Attacks across the server's privilege boundaries, on the provisioned and deployed server.

An attacker who found a bug in a view runs code as the app user. Nothing that
user can write may be executed, rendered, read as configuration or followed
as a path by anything more privileged: root, supervisord, the deploy user or
the machine that deploys. Each attempt below must be refused by the file
system (or by sudo); then a rollback and a deploy must run nothing the
attempts left. The deploy user, in turn, reaches root only through the deploy
helper, which refuses what would make root run or write anything else.
"""

import json
import shlex

import pytest

from benchmarks.load import PinnedHTTPSConnection

from .conftest import DEPLOY, NAME, WORK, provision
from .lab import tls_context

ROOT = f"/srv/{NAME}"
ENV = f"/etc/{NAME}/env"
LOGS = f"/var/log/{NAME}"
MEDIA = f"/var/lib/{NAME}/media"
HELPER = f"/usr/local/lib/{NAME}/deploy_helper.py"
# What an attack that worked would leave: on the server as root, and on the
# machine that deploys (here: the controller, which runs fab).
SERVER_MARKER = "/root/attack-marker"
# What every site includes: provisioning's listeners and certificate (roles/tls).
LISTEN_CONF = f"/etc/nginx/{NAME}/listen.conf"
CONTROLLER_MARKER = WORK / "attack-marker"
# A Jinja2 template that runs a shell command wherever it is rendered.
OPEN, CLOSE = "{" * 2, "}" * 2
TEMPLATE = f"{OPEN} cycler.__init__.__globals__.os.system('touch {CONTROLLER_MARKER}') {CLOSE}"
RUN_AS_ROOT = f"open('{SERVER_MARKER}', 'w')"
REFUSALS = ("Permission denied", "a password is required", "not allowed")
OLD = "19990101T000000Z"  # sorts before every real release

ATTEMPTS = [
    ("plant a release that sorts before current", f"mkdir {ROOT}/releases/{OLD}"),
    ("point current at a folder of its own", f"ln -sfn /tmp {ROOT}/current"),
    (
        "plant a supervisor template in the current release",
        f"printf %s {shlex.quote(TEMPLATE)} > {ROOT}/current/conf/supervisor.conf.j2",
    ),
    (
        "replace the health check the deploy runs",
        f"echo {shlex.quote(RUN_AS_ROOT)} > {ROOT}/current/deploy/healthcheck.py",
    ),
    (
        "add a .pth file to a virtualenv",
        f"echo {shlex.quote('import os; ' + RUN_AS_ROOT)} > "
        f"$(echo {ROOT}/venvs/*/lib/python3*/site-packages)/attack.pth",
    ),
    ("change a file in a virtualenv", f"echo >> $(echo {ROOT}/venvs/*/bin/activate)"),
    ("change a static file", f"echo >> {ROOT}/current/staticfiles/admin/css/base.css"),
    (
        "replace a program log with a link to a root file",
        f"ln -sf /root/.bashrc {LOGS}/web-{OLD}.log",
    ),
    ("write into the deploy's logs", f"touch {LOGS}/deploy/deploy-{OLD}.log"),
    ("edit the env file", f"echo DJANGO_DEBUG=true >> {ENV}"),
    (
        "add supervisor programs",
        "printf '[program:x]\\ncommand=/bin/sh\\nuser=root\\n' > /etc/supervisor/conf.d/x.conf",
    ),
    (
        "edit the release's supervisor programs",
        f"echo user=root >> $(echo /etc/supervisor/conf.d/{NAME}-*.conf)",
    ),
    ("edit the nginx site", f"echo '#' >> /etc/nginx/sites-enabled/{NAME}.conf"),
    ("run the deploy helper", f"sudo -n {HELPER} status"),
    ("read the deploy user's keys", f"cat /home/{DEPLOY}/.ssh/authorized_keys"),
    # The backups hold every row and upload: the app user reaches none of them.
    ("read the database's backups", "ls /var/lib/pgbackrest"),
    ("read the backups' key in pgBackRest's settings", "cat /etc/pgbackrest/pgbackrest.conf"),
    ("read the media repository's key", f"cat /etc/{NAME}-backup/media-password"),
    ("read the media repository", f"ls /var/lib/{NAME}-backup/media"),
    ("mark a failed backup as done", f"echo ok > /var/lib/{NAME}-backup/status/media.json"),
    ("run the backup program", f"sudo -n /usr/local/lib/{NAME}/backup.py list"),
    # With the server's off-site key, the app could delete the copy on the other host.
    ("read the off-site host's key", f"cat /etc/{NAME}-backup/offsite_ed25519"),
    ("read the off-site store's keys", f"cat /etc/{NAME}-backup/offsite.env"),
    (
        "point the off-site copy's ssh elsewhere",
        f"echo 'Host *' >> /etc/ssh/ssh_config.d/{NAME}-backup.conf",
    ),
]


def as_app(lab, web, command: str):
    """Run a shell ``command`` on ``web`` as the app user."""
    return lab.ssh(web, f"runuser -u {NAME} -- /bin/sh -c {shlex.quote(command)}", check=False)


@pytest.mark.parametrize(("attack", "command"), ATTEMPTS, ids=[a for a, _ in ATTEMPTS])
def test_the_app_user_cannot(lab, web, project, attack, command):
    result = as_app(lab, web, command)
    assert result.returncode != 0, f"{attack}: it worked\n{result.stdout}"
    assert any(refusal in result.stderr for refusal in REFUSALS), result.stderr


def test_a_rollback_and_a_deploy_after_the_attacks_run_nothing_the_app_wrote(lab, web, project):
    project.fab("rollback")
    project.fab("deploy")
    assert not CONTROLLER_MARKER.exists()
    assert lab.ssh(web, f"test -e {SERVER_MARKER}", check=False).returncode == 1
    assert OLD not in project.fab("releases").stdout
    assert web.get("/health/")[0] == 200


def test_a_link_planted_in_uploads_is_not_followed_by_nginx(lab, web, project):
    planted = as_app(
        lab, web, f"echo own > {MEDIA}/own.txt && ln -sfn /etc/passwd {MEDIA}/passwd.txt"
    )
    assert planted.returncode == 0, planted.stderr
    assert web.get("/media/own.txt")[:2] == (200, b"own\n")
    status, body, _ = web.get("/media/passwd.txt")
    assert status == 403 and b"root:" not in body


@pytest.mark.parametrize("user", ["root", DEPLOY])
def test_ssh_refuses_passwords(lab, web, user):
    result = lab.ssh_as(
        user,
        web,
        "true",
        "PubkeyAuthentication=no",
        "PreferredAuthentications=password,keyboard-interactive",
        key=False,
    )
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr, result.stderr


def test_a_deploy_logged_in_as_root_is_refused(project, web):
    result = project.fab("deploy", check=False, host=web.ssh)
    assert result.returncode != 0
    assert "never as root" in result.stderr, result.stderr


PROGRAMS = f"""[group:{NAME}-{OLD}]
programs={NAME}-web-{OLD}

[program:{NAME}-web-{OLD}]
command={ROOT}/releases/{OLD}/server/run /bin/true
directory={ROOT}/releases/{OLD}
user={NAME}
stdout_logfile={LOGS}/web-{OLD}.log
"""
HELPER_REFUSALS = [
    ("a program run as root", "install-programs", PROGRAMS.replace(f"user={NAME}", "user=root")),
    (
        "a program logging into root's home",
        "install-programs",
        PROGRAMS.replace(f"{LOGS}/web-{OLD}.log", SERVER_MARKER),
    ),
    (
        "a site whose log root would write",
        "install-site",
        "server { include " + LISTEN_CONF + "; access_log " + SERVER_MARKER + "; }\n",
    ),
    (
        "a site serving root's files",
        "install-site",
        "server { include " + LISTEN_CONF + "; root /root; }\n",
    ),
    (
        "a site with TLS 1.0",
        "install-site",
        "server { include " + LISTEN_CONF + "; ssl_protocols TLSv1 TLSv1.2; }\n",
    ),
]


@pytest.mark.parametrize(
    ("attack", "action", "text"), HELPER_REFUSALS, ids=[a for a, *_ in HELPER_REFUSALS]
)
def test_the_deploy_helper_refuses(lab, web, project, attack, action, text):
    command = f"printf %s {shlex.quote(text)} | sudo -n {HELPER} {action}"
    if action == "install-programs":
        command += f" {OLD}"
    result = lab.ssh_as(DEPLOY, web, command)
    assert result.returncode == 1, f"{attack}: accepted\n{result.stdout}{result.stderr}"
    assert result.stderr.startswith("deploy_helper: "), result.stderr
    left = lab.ssh(
        web, f"ls /etc/supervisor/conf.d; test -e {SERVER_MARKER} && echo marker || true"
    )
    assert OLD not in left.stdout and "marker" not in left.stdout
    assert web.get("/health/")[0] == 200


def test_the_deploy_user_runs_nothing_else_as_root(lab, web):
    result = lab.ssh_as(DEPLOY, web, "sudo -n /bin/true")
    assert result.returncode != 0
    assert "password is required" in result.stderr or "not allowed" in result.stderr


BACKUP = f"/usr/local/lib/{NAME}/backup.py"
SQL_NAME = "x');SELECT pg_sleep(1);--"
BACKUP_REFUSALS = [
    # sudoers lets the deploy user start only now, list, mark and restore.
    ("run a job of the timers'", f"sudo -n {BACKUP} run verify", "password is required"),
    (
        "mark a restore point named in SQL",
        f"sudo -n {BACKUP} mark {shlex.quote(SQL_NAME)}",
        "is no restore point name",
    ),
    ("restore to a time that is none", f"sudo -n {BACKUP} restore --at '$(id)'", "backup: "),
    ("restore with another option", f"sudo -n {BACKUP} restore --at now --set=x", "usage:"),
    (
        "fetch the off-site copy from elsewhere",
        f"sudo -n {BACKUP} fetch-offsite --repo=x",
        "password is required",
    ),
]


@pytest.mark.parametrize(
    ("attack", "command", "text"), BACKUP_REFUSALS, ids=[a for a, *_ in BACKUP_REFUSALS]
)
def test_the_backup_program_refuses(lab, web, attack, command, text):
    result = lab.ssh_as(DEPLOY, web, command)
    assert result.returncode != 0, f"{attack}: accepted\n{result.stdout}"
    assert text in result.stderr, result.stderr
    assert web.get("/health/")[0] == 200


AWKWARD = "a b, 'c' \"d\" $HOME $(touch /tmp/x) `id` #e &f; g\\h * ~ %s"


def test_an_env_value_with_every_awkward_character_reaches_django(lab, web, project):
    origins = "https://a.example, https://b.example"
    extra = {"app_extra_env": {"E2E_AWKWARD": AWKWARD, "DJANGO_CSRF_TRUSTED_ORIGINS": origins}}
    provision(lab, "provision-awkward.log", extra_vars=extra)
    script = (
        "import json, os; from django.conf import settings; "
        "print(json.dumps([os.environ['E2E_AWKWARD'], settings.CSRF_TRUSTED_ORIGINS]))"
    )
    shown = lab.ssh_as(
        DEPLOY,
        web,
        f"cd {ROOT}/current && server/run .venv/bin/python manage shell -c {shlex.quote(script)}",
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout.strip().splitlines()[-1]) == [
        AWKWARD,
        ["https://a.example", "https://b.example"],
    ]
    assert lab.ssh(web, "test -e /tmp/x", check=False).returncode == 1


def test_an_env_value_with_a_newline_is_refused_naming_it(lab, web, project):
    before = lab.ssh(web, f"sha256sum {ENV}").stdout
    refused = provision(
        lab,
        "provision-newline.log",
        extra_vars={"app_extra_env": {"E2E_TWO_LINES": "a\nb"}},
        must_pass=False,
    )
    assert refused.failed == 1
    assert "E2E_TWO_LINES in the env file" in refused.output
    assert lab.ssh(web, f"sha256sum {ENV}").stdout == before


def post_token(web, username: str) -> tuple[int, dict]:
    """(status, headers) of a token login with a wrong password, through nginx."""
    connection = PinnedHTTPSConnection(
        web.name, web.address, 443, context=tls_context(), timeout=10
    )
    try:
        body = json.dumps({"username": username, "password": "wrong"})
        headers = {"Host": web.name, "Content-Type": "application/json"}
        connection.request("POST", "/api/auth/token/", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def test_password_guessing_is_throttled_with_429(web, project):
    # The app allows 10 a minute per client (login_client), then answers 429 saying
    # when to come back; nginx's zone caps floods a little above that, at the door.
    answers = [post_token(web, f"guess{attempt}") for attempt in range(14)]
    statuses = [status for status, _ in answers]
    assert statuses[:10] == [400] * 10, statuses
    assert set(statuses[10:]) == {429}, statuses
    assert int(answers[10][1]["Retry-After"]) > 0
