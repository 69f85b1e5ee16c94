"""provisioning/ agrees with the project; tests/../provisioning/test/run proves it on a server."""

import re
import secrets
import string

import jinja2
import yaml

from .helpers import PROJECT_ROOT, manage

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


def rendered_env_file(**overrides):
    """The env file provisioning writes, with generated secrets as it would make them."""
    variables = yaml.safe_load((PROVISIONING / "group_vars" / "all.yml").read_text())
    alphabet = string.ascii_letters + string.digits
    context = {
        "inventory_hostname": "example.com",
        "playbook_dir": "provisioning",
        "ansible_managed": "",
    }
    for name, value in variables.items():
        if isinstance(value, str) and "lookup(" in value:
            length = int(re.search(r"length=(\d+)", value).group(1))
            value = "".join(secrets.choice(alphabet) for _ in range(length))
        context[name] = value
    context.update(overrides)
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 -- an env file, not HTML
    )
    # Ansible's own filter, which the template uses.
    environment.filters["bool"] = lambda value: str(value).lower() in ("1", "true", "yes", "on")
    # Values refer to each other ("/shared"): render until nothing changes.
    for _ in range(3):
        context = {
            name: environment.from_string(value).render(context)
            if isinstance(value, str)
            else value
            for name, value in context.items()
        }
        context["app_server_names"] = [
            environment.from_string(n).render(context) for n in context["app_server_names"]
        ]
    template = (PROVISIONING / "roles" / "app" / "templates" / "env.j2").read_text()
    text = environment.from_string(template).render(context)
    return dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )


def test_the_env_file_provisioning_writes_satisfies_the_deployment_settings():
    env = rendered_env_file()
    assert env["DJANGO_ENV"] == "deployment"
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_app_extra_env_adds_variables_to_the_env_file():
    extra = {"ELASTICSEARCH_URL": "http://127.0.0.1:9200", "DJANGO_LOG_LEVEL": "WARNING"}
    env = rendered_env_file(app_extra_env=extra)
    assert extra.items() <= env.items()
    assert "ELASTICSEARCH_URL" not in rendered_env_file()


def test_every_script_is_executable():
    for script in [
        "provision_all",
        "add-root.sh",
        "pre_requisits.sh",
        "install-collections",
        "test/lab",
        "test/build-root",
        "test/run",
    ]:
        assert (PROVISIONING / script).stat().st_mode & 0o100, script


def test_secrets_are_generated_never_written_in_the_repository():
    variables = yaml.safe_load((PROVISIONING / "group_vars" / "all.yml").read_text())
    secrets_ = {n: v for n, v in variables.items() if n.endswith(("_password", "_secret_key"))}
    assert len(secrets_) == 4
    for name, value in secrets_.items():
        assert "lookup('ansible.builtin.password', credentials_dir" in value, name
    # Where the generated ones are kept, on the machine that provisions.
    assert "/provisioning/credentials/" in (PROJECT_ROOT / ".gitignore").read_text().splitlines()
