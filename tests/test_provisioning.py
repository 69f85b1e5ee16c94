"""provisioning/ agrees with the project; tests/../provisioning/test/run proves it on a server."""

import re
import secrets
import shlex
import string
import subprocess

import jinja2
import yaml

from .helpers import PROJECT_ROOT, manage, script

PROVISIONING = PROJECT_ROOT / "provisioning"


def role_packages():
    """Every package an apt task of a role installs."""
    packages = set()
    for tasks in PROVISIONING.glob("roles/*/tasks/*.yml"):
        for task in yaml.safe_load(tasks.read_text()) or []:
            apt = task.get("ansible.builtin.apt")
            if apt and "name" in apt:
                names = apt["name"]
                packages.update([names] if isinstance(names, str) else names)
    return packages


def test_the_offline_test_server_has_every_package_the_roles_install():
    listed = set(re.sub(r"#.*", "", (PROVISIONING / "test" / "packages").read_text()).split())
    assert role_packages() - listed == set()


def rendered_env_file(tmp_path, **overrides):
    """The env file provisioning writes, with generated secrets as it would make them.

    Returns its text and the variables a shell that sources it (as server/run
    does) hands the app.
    """
    variables = yaml.safe_load((PROVISIONING / "group_vars" / "all.yml").read_text())
    variables |= yaml.safe_load((PROVISIONING / "roles" / "app" / "vars" / "main.yml").read_text())
    alphabet = string.ascii_letters + string.digits
    context = {
        "inventory_hostname": "example.com",
        "playbook_dir": "provisioning",
        "ansible_managed": "",
    }
    context.update(variables)
    # What host_vars/HOST/vault.yml holds (provisioning/secrets makes it).
    group_vars = (PROVISIONING / "group_vars" / "all.yml").read_text()
    for name in re.findall(r"\{\{ (vault_\w+) \}\}", group_vars):
        context[name] = "".join(secrets.choice(alphabet) for _ in range(64))
    context.update(overrides)
    # Ansible's combine, done below.
    del context["app_env"]
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 -- an env file, not HTML
    )
    # Ansible's own filters, which the templates use.
    environment.filters["bool"] = lambda value: str(value).lower() in ("1", "true", "yes", "on")
    environment.filters["quote"] = shlex.quote

    def render(value):
        if isinstance(value, str):
            return environment.from_string(value).render(context)
        if isinstance(value, dict):
            return {name: render(item) for name, item in value.items()}
        if isinstance(value, list):
            return [render(item) for item in value]
        return value

    # Values refer to each other ("app_root"): render until nothing changes.
    for _ in range(3):
        context = {name: render(value) for name, value in context.items()}
    context["app_env"] = context["app_env_base"] | context["app_extra_env"]
    template = (PROVISIONING / "roles" / "app" / "templates" / "env.j2").read_text()
    text = environment.from_string(template).render(context)
    path = tmp_path / "env"
    path.write_text(text)
    shell = subprocess.run(
        ["/bin/sh", "-c", f'set -a; . "{path}"; exec env -0'],  # noqa: S603 -- fixed
        env={},
        capture_output=True,
        text=True,
        check=True,
    )
    values = script("provisioning/test/check_server.py").env_values(shell.stdout)
    return text, {name: values[name] for name in context["app_env"]}


def test_the_env_file_provisioning_writes_satisfies_the_deployment_settings(tmp_path):
    _, env = rendered_env_file(tmp_path)
    assert env["DJANGO_ENV"] == "deployment"
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_app_extra_env_adds_variables_to_the_env_file(tmp_path):
    extra = {"ELASTICSEARCH_URL": "http://127.0.0.1:9200", "DJANGO_LOG_LEVEL": "WARNING"}
    _, env = rendered_env_file(tmp_path, app_extra_env=extra)
    assert extra.items() <= env.items()
    assert "ELASTICSEARCH_URL" not in rendered_env_file(tmp_path)[1]


# Jinja2's delimiters, apart: startproject renders this file with Django's engine.
OPEN, CLOSE = "{" * 2, "}" * 2
AWKWARD = "a b, 'c' \"d\" $HOME $(touch x) `id` #e &f; g\\h \\n * ~ %s {i}"


def test_every_value_reaches_the_app_exactly_as_written(tmp_path):
    extra = {
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://a.example, https://b.example",
        "AWKWARD": AWKWARD,
    }
    text, env = rendered_env_file(tmp_path, app_extra_env=extra)
    assert env["AWKWARD"] == AWKWARD
    assert env["DJANGO_CSRF_TRUSTED_ORIGINS"] == extra["DJANGO_CSRF_TRUSTED_ORIGINS"]
    # Nothing in a value ran: the command substitution made no file.
    assert not (tmp_path / "x").exists()
    assert "AWKWARD='a b, '" in text


def test_env_names_and_one_line_values_are_checked_before_the_file_is_written():
    tasks = yaml.safe_load((PROVISIONING / "roles" / "app" / "tasks" / "main.yml").read_text())
    names = [task["name"] for task in tasks]
    check = names.index("Refuse env values that an env file cannot hold")
    assert check < names.index("Write the env file the deployment settings read")
    loop = tasks[check]["loop"]
    assert "[\\r\\n]" in loop and "^[A-Z_][A-Z0-9_]*$" in loop


def test_every_script_is_executable():
    for name in [
        "provision_all",
        "secrets",
        "add-root.sh",
        "pre_requisits.sh",
        "install-collections",
        "test/lab",
        "test/build-root",
        "test/run",
        "test/testssl",
    ]:
        assert (PROVISIONING / name).stat().st_mode & 0o100, name


def test_secrets_come_from_the_vault_and_are_checked_before_anything_runs():
    text = (PROVISIONING / "group_vars" / "all.yml").read_text()
    variables = yaml.safe_load(text)
    secrets_ = {n: v for n, v in variables.items() if n.endswith(("_password", "_secret_key"))}
    assert secrets_ == {name: f"{OPEN} vault_{name} {CLOSE}" for name in secrets_}
    assert len(secrets_) == 5
    common = yaml.safe_load((PROVISIONING / "roles" / "common" / "tasks" / "main.yml").read_text())
    checked = common[0]["ansible.builtin.assert"]["that"]
    assert checked == [f"vault_{name} is defined" for name in secrets_]
    script = (PROVISIONING / "secrets").read_text()
    for name in secrets_:
        assert f'"vault_{name}"' in script, name
