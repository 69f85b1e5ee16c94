"""A project made by the README's two steps is complete, clean and working."""

import functools
import http.server
import os
import re
import shutil
import stat
import tarfile
import threading
import zipfile

import pytest
from conftest import (
    PLACEHOLDER,
    PROJECT,
    SERVICE_VARIABLES,
    TEMPLATE_ROOT,
    VENV_BIN,
    generate,
    project_files,
    run,
    snapshot,
    template_files,
)

DEPLOYMENT = {
    "DJANGO_ENV": "deployment",
    "DJANGO_SECRET_KEY": "k3$Vd9-pQ1@zL7!mR4^wT8&yB2*nF6(hJ0)cX5_gS3+aE9=uO1%iY7",
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": "postgres://app:secret@127.0.0.1:5432/app",
    "REDIS_URL": "redis://:secret@127.0.0.1:6379/0",
    "CELERY_BROKER_URL": "amqp://app:secret@127.0.0.1:5672/app",
}


ROLES = [
    "common",
    "hardening",
    "postgresql",
    "redis",
    "rabbitmq",
    "nginx",
    "supervisor",
    "app",
    "deploy_user",
]
PROVISIONING_SCRIPTS = [
    "provision_all",
    "pre_requisits.sh",
    "add-root.sh",
    "install-collections",
    "test/lab",
    "test/build-root",
    "test/run",
]


def assert_no_placeholder(project):
    leftovers = []
    for path in project_files(project):
        relative = path.relative_to(project)
        if PLACEHOLDER in str(relative):
            leftovers.append(f"path {relative}")
        data = path.read_bytes()
        if PLACEHOLDER.encode() in data:
            leftovers.append(f"content of {relative}")
        if path.suffix == ".py" and re.search(rb"\{\{|\{%", data):
            leftovers.append(f"unrendered template tag in {relative}")
        if b"template-only" in data:
            leftovers.append(f"template-only block in {relative}")
    assert not leftovers


def assert_is_the_project(project, name=PROJECT):
    assert (project / name / "settings" / "base.py").is_file()
    assert f'"{name}.urls"' in (project / name / "settings" / "base.py").read_text()
    assert not (project / "fixrefs").exists()
    assert not (project / ".template").exists()
    assert not (project / ".ci").exists()
    assert_no_placeholder(project)


def test_no_trace_of_the_placeholder_or_the_template_machinery(project):
    assert_is_the_project(project)


def test_the_project_has_every_part(project):
    listed = [
        "README.md",
        "Makefile",
        "manage",
        "pyproject.toml",
        ".gitignore",
        f"{PROJECT}/settings/__init__.py",
        f"{PROJECT}/settings/base.py",
        f"{PROJECT}/settings/development.py",
        f"{PROJECT}/settings/deployment.py",
        f"{PROJECT}/settings/staging.py",
        f"{PROJECT}/urls.py",
        f"{PROJECT}/wsgi.py",
        f"{PROJECT}/asgi.py",
        f"{PROJECT}/apps/users/migrations/0001_initial.py",
        "requirements/base.in",
        "requirements/base.txt",
        "requirements/development.in",
        "requirements/development.txt",
        "requirements/deployment.in",
        "requirements/deployment.txt",
        "requirements/compile",
        "tests/test_settings.py",
        f"{PROJECT}/apps/articles/migrations/0002_search_index.py",
        f"{PROJECT}/apps/search/backends/elasticsearch.py",
        "docker-compose.yml",
        "Dockerfile",
        ".dockerignore",
        "docker/entrypoint",
        "conf/gunicorn.py",
        "provisioning/hosts",
        "provisioning/playbook.yml",
        "provisioning/ansible.cfg",
        "provisioning/group_vars/all.yml",
        "provisioning/files/nginx.conf",
        "provisioning/roles/app/templates/env.j2",
        "provisioning/roles/deploy_user/files/deploy_helper.py",
        "provisioning/roles/deploy_user/templates/sudoers.j2",
        "provisioning/test/packages",
        "fabfile.py",
        "deploy/build.py",
        "deploy/deploymap.py",
        "deploy/healthcheck.py",
        "deploy/remote.py",
        "deploy/targets.py",
        "deploy/workflow.py",
        "conf/deploy.map",
        "conf/environment.py.j2",
        "conf/nginx.conf.j2",
        "conf/run.j2",
        "conf/supervisor.conf.j2",
        "benchmarks/deploy.py",
        "benchmarks/load.py",
    ]
    roles = [f"provisioning/roles/{role}/tasks/main.yml" for role in ROLES]
    scripts = [f"provisioning/{script}" for script in PROVISIONING_SCRIPTS]
    parts = [*listed, *roles, *scripts]
    for part in parts:
        assert (project / part).is_file(), part


def test_the_readme_is_the_projects_own(project):
    readme = (project / "README.md").read_text()
    assert readme.startswith(f"# {PROJECT}\n")
    assert "./fixrefs" not in readme
    for section in [
        "Runtime environments",
        "Initial setup",
        "runserver_plus",
        "Provisioning",
        "Deployment",
    ]:
        assert section in readme


def test_the_makefile_has_only_project_commands(project):
    makefile = (project / "Makefile").read_text()
    assert "test-template" not in makefile
    help_text = run(["make", "help"], cwd=project).stdout
    for command in ["setup", "run", "test", "lint", "requirements"]:
        assert re.search(rf"^{command}\s", help_text, re.MULTILINE), command


def test_commands_stay_executable(project):
    scripts = [f"provisioning/{script}" for script in PROVISIONING_SCRIPTS]
    for command in ["manage", "requirements/compile", "docker/entrypoint", *scripts]:
        assert (project / command).stat().st_mode & stat.S_IXUSR, command


def test_the_secret_key_is_new_for_each_project(project, tmp_path):
    other = generate(tmp_path)
    key = re.compile(r"django-insecure-[^\"]+")
    mine = key.search((project / PROJECT / "settings" / "development.py").read_text())
    theirs = key.search((other / PROJECT / "settings" / "development.py").read_text())
    assert mine and theirs and mine.group() != theirs.group()


def test_manage_check(project):
    assert "no issues" in run(["./manage", "check"], cwd=project).stdout


def test_check_deploy_prints_no_warning(project):
    result = run(
        ["./manage", "check", "--deploy", "--fail-level", "WARNING"], cwd=project, **DEPLOYMENT
    )
    # The two silenced: HSTS for subdomains and preload, which wait until HTTPS has proven
    # itself (settings/deployment.py).
    assert "System check identified no issues (2 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


def test_deployment_without_its_variables_refuses_to_start(project):
    result = run(["./manage", "check"], cwd=project, check=False, DJANGO_ENV="deployment")
    assert result.returncode != 0
    for name in DEPLOYMENT:
        if name != "DJANGO_ENV":
            assert name in result.stderr


def test_migrations_match_the_models(project):
    run(["./manage", "makemigrations", "--check", "--dry-run"], cwd=project)


def test_make_lint_passes(project):
    result = run(["make", "lint", f"VENV={VENV_BIN.parent}"], cwd=project)
    assert "validation done" in result.stdout  # the compose file was checked


@pytest.mark.parametrize(
    ("path", "good", "bad", "complaint"),
    [
        ("docker-compose.yml", "    ports:\n", "    prots:\n", "'prots' was unexpected"),
        ("Dockerfile", "FROM python:3.11-slim-bookworm", "FROM python", "DL3006"),
    ],
    ids=["compose", "dockerfile"],
)
def test_make_lint_catches_broken_docker_files(project, tmp_path, path, good, bad, complaint):
    # CI checks these files but cannot run them (no Docker engine): the checks must bite.
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", "*.sqlite3"))
    text = (copy / path).read_text()
    assert good in text
    (copy / path).write_text(text.replace(good, bad, 1))
    result = run(["make", "lint", f"VENV={VENV_BIN.parent}"], cwd=copy, check=False)
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr


def make_test(project, **environ):
    """`make test` in the project; returns pytest's closing line."""
    # VENV points make at this interpreter's virtualenv, which holds the same lock.
    result = run(["make", "test", f"VENV={VENV_BIN.parent}"], cwd=project, timeout=600, **environ)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, result.stdout
    return result.stdout, summary


def test_make_test_runs_the_projects_own_suite_with_no_server(project):
    output, summary = make_test(project)
    # The real-service tests are skipped, each saying which variable runs it.
    assert "skipped" in summary
    for variable in SERVICE_VARIABLES:
        assert f"set {variable}" in output


def test_the_projects_suite_runs_on_the_real_services(project):
    services = {name: os.environ.get(name, "") for name in SERVICE_VARIABLES}
    if not all(services.values()):
        pytest.skip(f"set {', '.join(SERVICE_VARIABLES)} (as .ci/run does) to run this")
    output, summary = make_test(project, **services)
    assert "skipped" not in summary, output


def test_generation_into_the_current_folder(tmp_path):
    target = tmp_path / "here"
    target.mkdir()
    run(
        [VENV_BIN / "django-admin", "startproject", f"--template={TEMPLATE_ROOT}", "shop", "."],
        cwd=target,
    )
    run(["./fixrefs", "shop"], cwd=target)
    assert_is_the_project(target, "shop")
    run(["./manage", "check"], cwd=target)


def make_zip(path):
    # Like a code host's download: every file under one top-level folder.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in template_files():
            archive.write(TEMPLATE_ROOT / name, f"autumn-main/{name}")
    return path


def make_tar_gz(path):
    with tarfile.open(path, "w:gz") as archive:
        for name in template_files():
            archive.add(TEMPLATE_ROOT / name, f"autumn-main/{name}")
    return path


def test_generation_from_a_zip_archive(tmp_path):
    archive = make_zip(tmp_path / "autumn-main.zip")
    project = generate(tmp_path / "out", "shop", template=archive)
    assert_is_the_project(project, "shop")
    assert (project / "manage").stat().st_mode & stat.S_IXUSR
    run(["./manage", "check"], cwd=project)


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_generation_from_a_tar_gz_archive_url(tmp_path, served):
    folder, base_url = served
    make_tar_gz(folder / "autumn-main.tar.gz")
    project = generate(tmp_path / "out", "shop", template=f"{base_url}/autumn-main.tar.gz")
    assert_is_the_project(project, "shop")
    run(["./manage", "check"], cwd=project)


def test_a_failed_startproject_leaves_nothing_behind(tmp_path):
    # Django refuses an importable name before it writes anything.
    target = tmp_path / "out"
    target.mkdir()
    result = run(
        [VENV_BIN / "django-admin", "startproject", f"--template={TEMPLATE_ROOT}", "json", target],
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert "conflicts with the name of an existing Python module" in result.stderr
    assert snapshot(target) == {}
