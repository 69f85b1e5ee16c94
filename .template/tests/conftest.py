"""Making projects from the template exactly as its README says to."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Split so that this file is not itself a match for the placeholder searches.
PLACEHOLDER = "project" + "_name"
PROJECT = "acme_shop"
# Tool and cache folders that are not part of a project's own files.
NOT_PROJECT_FILES = {".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}


# URLs of the real services (.ci/run sets them). Generated projects get them
# only where a test passes them on; everywhere else they run on embedded defaults.
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def environ(**overrides):
    """The environment a developer with the project's virtualenv active would have."""
    dropped = ("DJANGO_", "VIRTUAL_ENV", *SERVICE_VARIABLES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides)
    return env


def run(args, cwd, timeout=300, check=True, **env):
    """Run a command as a person would in ``cwd``; fail with its output if it fails."""
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=environ(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        pytest.fail(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def startproject(name, target, template=TEMPLATE_ROOT):
    """Step 1 of the README: django-admin startproject --template=... NAME DIR."""
    target.mkdir(parents=True, exist_ok=True)
    run(
        [VENV_BIN / "django-admin", "startproject", f"--template={template}", name, target],
        cwd=target.parent,
    )
    return target


def fixrefs(project, *args, check=True):
    """Step 2 of the README: ./fixrefs NAME from the new project's root."""
    return run(["./fixrefs", *args], cwd=project, check=check)


def generate(parent, name=PROJECT, template=TEMPLATE_ROOT):
    project = startproject(name, parent / name, template)
    fixrefs(project, name)
    return project


def git(project, *args):
    """Run git in ``project`` as a fixed author; its output, stripped."""
    author = {"GIT_AUTHOR_NAME": "autumn", "GIT_AUTHOR_EMAIL": "autumn@localhost"}
    committer = {"GIT_COMMITTER_NAME": "autumn", "GIT_COMMITTER_EMAIL": "autumn@localhost"}
    return run(["git", *args], cwd=project, **author, **committer).stdout.strip()


def commit(project, message):
    """Commit everything in ``project`` (``git init`` first if needed); the new sha."""
    if not (project / ".git").exists():
        git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)
    return git(project, "rev-parse", "HEAD")


def template_files():
    """The template's files as a clone would have them (tracked, or new and not ignored)."""
    listed = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=TEMPLATE_ROOT
    ).stdout
    return sorted(name for name in listed.split("\0") if name and (TEMPLATE_ROOT / name).is_file())


def project_files(root):
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in NOT_PROJECT_FILES]
        for filename in filenames:
            yield Path(folder, filename)


def snapshot(root):
    """Every path under ``root`` with its mode and content hash."""
    state = {}
    for path in sorted(Path(root).rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        state[str(path.relative_to(root))] = (info.st_mode, digest)
    return state


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """One project generated from the template, shared by the read-only tests."""
    return generate(tmp_path_factory.mktemp("generated"))


@pytest.fixture
def fresh_project(tmp_path):
    """A project straight out of startproject, before fixrefs."""
    return startproject(PROJECT, tmp_path / PROJECT)
