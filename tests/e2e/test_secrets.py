"""Secrets rotated with make rotate-secrets under load: no failed request, the old values refused.

Each rotation gives the named secrets new values in the vault, provisions the
server so that both the old and the new are accepted, restarts the app and
worker on the new ones, then provisions again to refuse the old. PostgreSQL
and RabbitMQ hold one password per user, so the app moves between two logins:
the first rotation moves it to the alternate ones, the second back.
"""

import shlex

import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret

from .conftest import (
    ANSIBLE_ENV,
    NAME,
    PLAYBOOK_TIMEOUT,
    VAULT_PASSWORD,
    WEB,
    WORK,
    lab_vars,
    provision,
    report,
    run,
)
from .test_deploy import Load, served_version

ENV = f"/etc/{NAME}/env"
EVERY = ("postgresql", "redis", "rabbitmq", "django_secret_key")


def vault(lab) -> dict:
    """The web server's secrets, decrypted with the story's vault password."""
    secret = VaultSecret(VAULT_PASSWORD.read_bytes().strip())
    path = lab.inventory / "host_vars" / WEB / "vault.yml"
    return yaml.safe_load(VaultLib([(DEFAULT_VAULT_ID_MATCH, secret)]).decrypt(path.read_bytes()))


def rotate(project, lab, *secrets: str) -> str:
    """make rotate-secrets in the project's clone, as an operator would run it, under load."""
    fab = " ".join(map(str, project.fab_prefix()))
    command = [
        "make",
        "--no-print-directory",
        "rotate-secrets",
        f"HOST={WEB}",
        f"TARGET={project.TARGET}",
        f"SECRETS={' '.join(secrets)}",
        f"INVENTORY={lab.inventory}",
        # The lab's ACME CA, as provision() passes it.
        f"PROVISION_ARGS=--extra-vars=@{lab_vars(lab)}",
        f"FAB={fab}",
    ]
    with Load(project.server) as load:
        result = run(command, 3 * PLAYBOOK_TIMEOUT, cwd=project.root, check=False, **ANSIBLE_ENV)
    (WORK / f"rotate-{'-'.join(secrets)}.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert load.report["requests"] > 50, load.report
    assert load.report["failed"] == 0, load.report
    report(f"{' '.join(secrets)} rotated: {load.report['requests']} requests, none failed")
    return result.stdout


def postgresql(lab, web, login: str, password: str) -> str:
    """The session's current_user when ``login`` logs in with ``password``, else ''."""
    command = (
        f"PGPASSWORD={shlex.quote(password)} psql -h 127.0.0.1 -U {shlex.quote(login)} "
        f"-d {NAME} -tAc 'select current_user'"
    )
    return lab.ssh(web, command, check=False).stdout.strip()


def redis(lab, web, password: str) -> bool:
    command = f"REDISCLI_AUTH={shlex.quote(password)} redis-cli --no-auth-warning ping"
    return lab.ssh(web, command, check=False).stdout.strip() == "PONG"


def rabbitmq(lab, web, login: str, password: str) -> bool:
    command = f"rabbitmqctl -q authenticate_user {shlex.quote(login)} {shlex.quote(password)}"
    return lab.ssh(web, command, check=False).returncode == 0


def env_value(lab, web, name: str) -> str:
    return lab.ssh(web, f"sed -n 's/^{name}=//p' {ENV}").stdout.strip()


def test_rotating_every_secret_fails_no_request_and_the_old_values_are_refused(project, lab, web):
    before = vault(lab)
    version = served_version(web)
    rotate(project, lab, *EVERY)
    after = vault(lab)
    for name in ("postgresql_password", "redis_password", "rabbitmq_password", "django_secret_key"):
        assert after[f"vault_{name}"] != before[f"vault_{name}"], name
    old, new = before["vault_postgresql_password"], after["vault_postgresql_password"]
    # The app's login now is the alternate one, which acts as the database's owner.
    assert postgresql(lab, web, f"{NAME}_alt", new) == NAME
    assert postgresql(lab, web, NAME, old) == ""
    assert f"{NAME}_alt:{new}@" in env_value(lab, web, "DATABASE_URL")
    assert redis(lab, web, after["vault_redis_password"])
    assert not redis(lab, web, before["vault_redis_password"])
    assert rabbitmq(lab, web, f"{NAME}_alt", after["vault_rabbitmq_password"])
    assert not rabbitmq(lab, web, NAME, before["vault_rabbitmq_password"])
    # The old key still verifies what it signed: sessions and links outlive the rotation.
    assert env_value(lab, web, "DJANGO_SECRET_KEY") == after["vault_django_secret_key"]
    assert env_value(lab, web, "DJANGO_SECRET_KEY_FALLBACKS") == before["vault_django_secret_key"]
    assert "vault_rotation" not in after
    # The same build serves, restarted on the new values.
    assert served_version(web) == version
    assert project.fab("status").returncode == 0


def test_a_second_rotation_moves_the_app_back_to_its_first_logins(project, lab, web):
    before = vault(lab)
    rotate(project, lab, "postgresql", "rabbitmq")
    after = vault(lab)
    assert postgresql(lab, web, NAME, after["vault_postgresql_password"]) == NAME
    assert postgresql(lab, web, f"{NAME}_alt", before["vault_postgresql_password"]) == ""
    assert rabbitmq(lab, web, NAME, after["vault_rabbitmq_password"])
    assert not rabbitmq(lab, web, f"{NAME}_alt", before["vault_rabbitmq_password"])
    # The secrets not named keep their values.
    assert after["vault_redis_password"] == before["vault_redis_password"]
    # Provisioning after rotations changes nothing.
    again = provision(lab, "provision-after-rotation.log")
    assert (again.changed, again.failed) == (0, 0), again.output[-3000:]
