"""provisioning/secrets: the servers' secrets in an Ansible Vault file, run as a user would."""

import os
import subprocess
import sys

import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret

from .helpers import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "provisioning" / "secrets"


def secrets(tmp_path, *args, password_file=None):
    environ = {**os.environ, "HOME": str(tmp_path / "home")}
    environ["ANSIBLE_VAULT_PASSWORD_FILE"] = str(password_file or tmp_path / "vault-password")
    return subprocess.run(
        [sys.executable, SCRIPT, *args, f"--inventory={tmp_path}"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def opened(path, password: bytes) -> dict:
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password))])
    return yaml.safe_load(vault.decrypt(path.read_bytes()))


def test_init_makes_a_password_and_an_encrypted_vault_with_every_secret(tmp_path):
    done = secrets(tmp_path, "init", "web1")
    assert done.returncode == 0, done.stderr
    password = tmp_path / "vault-password"
    vault = tmp_path / "host_vars" / "web1" / "vault.yml"
    for path in (password, vault):
        assert path.stat().st_mode & 0o777 == 0o600
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    values = opened(vault, password.read_bytes().strip())
    assert {name: len(value) for name, value in values.items()} == {
        "vault_backup_password": 48,
        "vault_django_secret_key": 64,
        "vault_postgresql_password": 32,
        "vault_rabbitmq_password": 32,
        "vault_redis_password": 32,
    }
    assert all(value.isalnum() for value in values.values())
    listed = secrets(tmp_path, "names", "web1")
    assert listed.stdout.split() == sorted(values)


def test_a_host_with_secrets_keeps_them(tmp_path):
    secrets(tmp_path, "init", "web1")
    vault = tmp_path / "host_vars" / "web1" / "vault.yml"
    before = vault.read_bytes()
    again = secrets(tmp_path, "init", "web1")
    assert again.returncode == 1
    assert "web1 has its secrets already" in again.stderr
    assert vault.read_bytes() == before


def test_init_gives_a_vault_made_before_the_secrets_it_lacks_and_keeps_the_others(tmp_path):
    secrets(tmp_path, "init", "web1")
    vault = tmp_path / "host_vars" / "web1" / "vault.yml"
    lib = VaultLib(
        [(DEFAULT_VAULT_ID_MATCH, VaultSecret((tmp_path / "vault-password").read_bytes().strip()))]
    )
    older = opened(vault, (tmp_path / "vault-password").read_bytes().strip())
    del older["vault_backup_password"]
    vault.write_bytes(lib.encrypt(yaml.safe_dump(older)))
    done = secrets(tmp_path, "init", "web1")
    assert done.returncode == 0, done.stderr
    assert "added vault_backup_password to" in done.stdout
    now = opened(vault, (tmp_path / "vault-password").read_bytes().strip())
    assert len(now.pop("vault_backup_password")) == 48
    assert now == older


def test_the_backups_key_is_never_rotated(tmp_path):
    secrets(tmp_path, "init", "web1")
    done = secrets(tmp_path, "rotate", "web1", "backup")
    assert done.returncode == 1
    assert "no secret named backup: name one or more of postgresql, redis" in done.stderr


def test_the_password_may_come_from_a_command(tmp_path):
    command = tmp_path / "from-password-manager"
    command.write_text("#!/bin/sh\necho s3cret-from-a-command\n")
    command.chmod(0o700)
    assert secrets(tmp_path, "init", "web1", password_file=command).returncode == 0
    vault = tmp_path / "host_vars" / "web1" / "vault.yml"
    assert len(opened(vault, b"s3cret-from-a-command")) == 5


def test_a_host_without_secrets_is_named_with_the_fix(tmp_path):
    done = secrets(tmp_path, "names", "web1")
    assert done.returncode == 1
    assert "web1 has no secrets: run ./secrets init web1" in done.stderr


def test_without_the_password_nothing_is_read(tmp_path):
    secrets(tmp_path, "init", "web1")
    done = secrets(tmp_path, "names", "web1", password_file=tmp_path / "elsewhere")
    assert done.returncode == 1
    assert f"no vault password in {tmp_path / 'elsewhere'}" in done.stderr


def test_a_rotation_gives_new_values_and_keeps_what_the_running_app_needs_until_retired(tmp_path):
    secrets(tmp_path, "init", "web1")
    vault = tmp_path / "host_vars" / "web1" / "vault.yml"
    password = (tmp_path / "vault-password").read_bytes().strip()
    before = opened(vault, password)
    every = ["postgresql", "redis", "rabbitmq", "django_secret_key"]
    done = secrets(tmp_path, "rotate", "web1", *every)
    assert done.returncode == 0, done.stderr
    during = opened(vault, password)
    for name in ("postgresql", "redis", "rabbitmq"):
        assert during[f"vault_{name}_password"] != before[f"vault_{name}_password"]
    assert during["vault_django_secret_key"] != before["vault_django_secret_key"]
    # PostgreSQL and RabbitMQ keep one password per user: the app moves to its other login.
    assert during["vault_postgresql_alternate"] is during["vault_rabbitmq_alternate"] is True
    assert during["vault_redis_previous_password"] == before["vault_redis_password"]
    assert during["vault_django_secret_key_fallback"] == before["vault_django_secret_key"]
    assert during["vault_rotation"] == sorted(every)
    # Run again (after a failed step), it carries on rather than rotate again.
    again = secrets(tmp_path, "rotate", "web1", *every)
    assert "under way: carrying on with it" in again.stdout
    assert opened(vault, password) == during
    assert secrets(tmp_path, "retire", "web1").returncode == 0
    after = opened(vault, password)
    assert "vault_rotation" not in after
    assert "vault_redis_previous_password" not in after
    assert after["vault_django_secret_key_fallback"] == before["vault_django_secret_key"]
    # The next rotation moves the app back to its first login.
    secrets(tmp_path, "rotate", "web1", "postgresql")
    assert opened(vault, password)["vault_postgresql_alternate"] is False


def test_a_rotation_of_unknown_secrets_or_beside_another_is_refused(tmp_path):
    secrets(tmp_path, "init", "web1")
    vault = tmp_path / "host_vars" / "web1" / "vault.yml"
    before = vault.read_bytes()
    unknown = secrets(tmp_path, "rotate", "web1", "redis", "mysql")
    assert unknown.returncode == 1
    assert "no secret named mysql: name one or more of postgresql, redis" in unknown.stderr
    assert vault.read_bytes() == before
    secrets(tmp_path, "rotate", "web1", "redis")
    other = secrets(tmp_path, "rotate", "web1", "rabbitmq")
    assert other.returncode == 1
    assert "a rotation of redis on web1 is under way: finish it first (make rotate-secrets" in (
        other.stderr
    )
