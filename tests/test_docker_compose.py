"""The docker-compose stack is for this machine only, and its image carries no secret."""

import fnmatch

import yaml

from .helpers import PROJECT_ROOT

# What must never reach the image: generated passwords, local settings, build output.
SECRET_OR_LOCAL = [
    "provisioning/credentials/example.com/postgresql",
    "provisioning/host_vars/example.com/vault.yml",
    "{{ project_name }}/settings/local.py",
    "dist/{{ project_name }}-production.tar.gz",
    ".venv/bin/python",
]


def test_every_published_port_is_bound_to_loopback():
    stack = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    published = [
        (name, port)
        for name, service in stack["services"].items()
        for port in service.get("ports", [])
    ]
    assert published
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def ignored(path, patterns):
    """Whether Docker's build context leaves ``path`` out (a pattern matches it or a parent)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def test_the_image_leaves_out_credentials_local_settings_and_builds():
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in SECRET_OR_LOCAL:
        assert ignored(path, patterns), path
