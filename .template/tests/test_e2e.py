"""End to end: a generated project provisions a real (throw-away) Debian server and deploys to it.

The project's own `make e2e` (provisioning/test/run) builds a debootstrap root
with sshd in a network namespace, runs provision_all over SSH twice and checks
the services with the env file's credentials. The server is then kept up and
the project deploys onto it with `fab`, as a user would, while a load generator
inside the namespace keeps requesting pages through nginx on port 80.
Needs root; .ci/run runs it. The tests run in file order: each builds on the
releases the previous ones left.
"""

import json
import os
import re
import shutil
import signal
import subprocess

import pytest
from conftest import PROJECT, VENV_BIN, commit, environ, generate, git, run

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, chroot and mounts"),
]

WORK = f"/var/tmp/{PROJECT}-e2e"
SERVER = "provisioning/test/server"
SITE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A project whose production target is the throw-away server, provisioned and kept up."""
    project = generate(tmp_path_factory.mktemp("e2e"))
    # What a user does first: point the target at the server (see the README).
    fabfile = project / "fabfile.py"
    text = fabfile.read_text()
    pointed = [('"root@example.com"', '"root@127.0.0.1"'), ('["example.com"]', '["127.0.0.1"]')]
    for old, new in pointed:
        assert old in text
        text = text.replace(old, new, 1)
    fabfile.write_text(text)
    commit(project, "A new project")
    home = tmp_path_factory.mktemp("home")
    try:
        result = run(
            ["make", "e2e", f"VENV={VENV_BIN.parent}"],
            cwd=project,
            timeout=1800,
            E2E_KEEP="1",
            # pip on the server installs from wheels fetched here: it has no network.
            E2E_WHEELS="requirements/deployment.txt",
            # No certificate on the test server: plain HTTP.
            E2E_PROVISION_ARGS="-e app_ssl_redirect=false",
        )
        # As after add-root.sh: the server's host key is known (fab refuses unknown ones).
        (home / ".ssh").mkdir(mode=0o700)
        shutil.copy(f"{WORK}/known_hosts", home / ".ssh" / "known_hosts")
        yield project, result.stdout, home
    finally:
        run([SERVER, "down"], cwd=project, check=False)


def fab(server, *args, check=True):
    project, _, home = server
    # A home of its own: no known_hosts entry of another 127.0.0.1 interferes.
    command = [SERVER, "exec", "env", f"HOME={home}", VENV_BIN / "fab", "-i", f"{WORK}/id_ed25519"]
    return run([*command, *args], cwd=project, timeout=600, check=check)


def get(server, path):
    """(status, body, header pairs) of GET path through nginx on the server's port 80."""
    project = server[0]
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "request = urllib.request.Request(sys.argv[1], headers={'Host': '127.0.0.1'})\n"
        "try:\n"
        "    response = urllib.request.urlopen(request, timeout=10)\n"
        "except urllib.error.HTTPError as error:\n"
        "    response = error\n"
        "print(response.status)\n"
        "print(json.dumps(response.headers.items()))\n"
        "print(response.read().decode())\n"
    )
    result = run([SERVER, "exec", "python3", "-c", script, f"{SITE}{path}"], cwd=project)
    status, headers, body = result.stdout.split("\n", 2)
    return int(status), body, json.loads(headers)


def served_version(server):
    status, body, _ = get(server, "/health/")
    assert status == 200, body
    return json.loads(body)["version"].split()[0]


def started(server, command, stderr):
    """``command`` started in the project, its output read through pipes."""
    return subprocess.Popen(
        [str(arg) for arg in command],
        cwd=server[0],
        env=environ(),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


class Load:
    """benchmarks/load.py inside the namespace, requesting pages until stopped."""

    def __init__(self, server):
        command = [
            SERVER,
            "exec",
            VENV_BIN / "python",
            "-m",
            "benchmarks.load",
            f"{SITE}/health/",
            f"{SITE}/api/articles/",
            "--host=127.0.0.1",
            "--concurrency=4",
        ]
        self.process = started(server, command, stderr=subprocess.PIPE)
        assert "load: running" in self.process.stderr.readline()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err
        return json.loads(out)


def deploy_under_load(server, check=True):
    load = Load(server)
    try:
        result = fab(server, "deploy", check=check)
    finally:
        report = load.stop()
    print(result.stdout, result.stderr, report, sep="\n")
    assert report["requests"] > 50, report
    return result, report


def test_make_e2e_provisions_a_server_twice_with_nothing_left_to_change(server):
    output = server[1]
    print(output)  # the stage timings, in the test report
    assert "e2e: passed" in output
    recaps = re.findall(r"ok=\d+ +changed=(\d+) +unreachable=0 +failed=0", output)
    assert len(recaps) == 2
    assert int(recaps[0]) > 0 and recaps[1] == "0"
    assert "FAIL" not in output


def test_a_server_whose_host_key_is_unknown_is_refused(server, tmp_path):
    command = [SERVER, "exec", "env", f"HOME={tmp_path}", VENV_BIN / "fab", "-i"]
    result = run([*command, f"{WORK}/id_ed25519", "releases"], cwd=server[0], check=False)
    assert result.returncode != 0
    assert "127.0.0.1 is not in ~/.ssh/known_hosts: connect once with" in result.stderr


def test_a_deploy_serves_health_and_the_api_through_nginx(server):
    sha = git(server[0], "rev-parse", "HEAD")
    result = fab(server, "deploy")
    assert f"({sha})" in result.stdout
    assert served_version(server) == sha
    status, body, headers = get(server, "/api/articles/")
    assert status == 200
    assert json.loads(body)["results"] == []
    static_status, _, static_headers = get(server, "/static/admin/css/base.css")
    assert static_status == 200
    # Each security header once: from the app where it sent one, from nginx elsewhere.
    for pairs in (headers, static_headers):
        names = [name.lower() for name, _ in pairs]
        for header in ("x-frame-options", "x-content-type-options", "referrer-policy"):
            assert names.count(header) == 1, pairs


def test_a_deploy_under_load_fails_no_request(server):
    before = served_version(server)
    readme = server[0] / "README.md"
    readme.write_text(readme.read_text() + "\nA change to deploy.\n")
    # A changed nginx site too, which the deploy installs and nginx reloads.
    site = server[0] / "conf" / "nginx.conf.j2"
    site.write_text(site.read_text().replace(CHANGED_SITE[0], "\n".join(CHANGED_SITE), 1))
    sha = commit(server[0], "A second release")
    _, load = deploy_under_load(server)
    assert load["failed"] == 0, load
    # Both releases answered while the load ran: the switch happened under it.
    assert {version.split()[0] for version in load["versions"]} == {before, sha}
    assert served_version(server) == sha
    assert get(server, CHANGED_SITE_PATH)[0] == 204


CHANGED_SITE_PATH = "/e2e-site-changed"
CHANGED_SITE = ("    location / {", f"    location = {CHANGED_SITE_PATH} {{ return 204; }}\n")


def releases(server):
    return re.findall(r"\d{8}T\d{6}Z", fab(server, "releases").stdout)


def assert_failed_deploy_left_old_release_serving(server, change, message, files):
    """Commit ``files``, deploy under load, expect ``message``; then drop the commit."""
    project = server[0]
    before, names = served_version(server), releases(server)
    for path, text in files.items():
        (project / path).write_text(text)
    commit(project, change)
    try:
        result, load = deploy_under_load(server, check=False)
    finally:
        git(project, "reset", "-q", "--hard", "HEAD~1")
    assert result.returncode != 0
    assert re.search(message, result.stdout + result.stderr), result.stderr
    assert load["failed"] == 0, load
    return before, names, load


def test_a_failing_migration_leaves_the_old_release_serving(server):
    migration = f"{PROJECT}/apps/articles/migrations/0003_fails.py"
    before, names, load = assert_failed_deploy_left_old_release_serving(
        server,
        "A migration that fails",
        r"the migrations failed; its log: /srv/\w+/shared/logs/deploy-\w+\.log\n(.|\n)*on purpose",
        {
            migration: (
                "from django.db import migrations\n\n\n"
                "def fail(apps, schema_editor):\n"
                "    raise RuntimeError('this migration fails on purpose')\n\n\n"
                "class Migration(migrations.Migration):\n"
                "    dependencies = [('articles', '0002_search_index')]\n"
                "    operations = [migrations.RunPython(fail)]\n"
            )
        },
    )
    assert list(load["versions"]) and {v.split()[0] for v in load["versions"]} == {before}
    assert releases(server) == names
    assert served_version(server) == before


def test_an_app_that_cannot_start_leaves_the_old_release_serving(server):
    wsgi = server[0] / PROJECT / "wsgi.py"
    before, names, load = assert_failed_deploy_left_old_release_serving(
        server,
        "An app that cannot start",
        r"the health check of release \w+ failed; its log: /srv/\w+/shared/logs/web-\w+\.log",
        {wsgi: wsgi.read_text() + "raise RuntimeError('this app cannot start')\n"},
    )
    assert {v.split()[0] for v in load["versions"]} == {before}
    assert releases(server) == names
    assert served_version(server) == before


def test_a_release_failing_after_the_switch_is_rolled_back_automatically(server):
    # Its app is healthy, but its nginx site is not: found only once it is current.
    site = server[0] / "conf" / "nginx.conf.j2"
    before, names, load = assert_failed_deploy_left_old_release_serving(
        server,
        "An nginx site that nginx refuses",
        r"nginx site fails nginx -t(.|\n)*rolled back to \d{8}T\d{6}Z",
        {site: site.read_text().replace("listen 80;", "listen 80;\n    no_such_directive on;")},
    )
    assert releases(server) == names
    assert served_version(server) == before


def test_rollback_serves_the_previous_version(server):
    names = releases(server)
    previous = fab(server, "releases").stdout.split(names[-2])[1].split()[0]
    load = Load(server)
    try:
        result = fab(server, "rollback")
    finally:
        report = load.stop()
    assert f"serving {names[-2]}" in result.stdout
    assert served_version(server) == previous
    # With the release's own nginx site: the app answers the path the newer site had.
    assert get(server, CHANGED_SITE_PATH)[0] == 404
    assert report["failed"] == 0, report
    status = fab(server, "status").stdout
    assert f"current {names[-2]} ({previous} " in status
    assert re.search(rf"{PROJECT}-web-{names[-2]} +RUNNING", status), status
    # The release rolled back from was stopped: only one release runs.
    assert status.count("RUNNING") == 2, status


def test_of_two_deploys_started_at_once_one_is_refused(server):
    command = [SERVER, "exec", "env", f"HOME={server[2]}", VENV_BIN / "fab"]
    command += ["-i", f"{WORK}/id_ed25519", "deploy"]
    deploys = [started(server, command, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [deploy.communicate(timeout=600)[0] for deploy in deploys]
    codes = sorted(deploy.returncode for deploy in deploys)
    assert codes[0] == 0 and codes[1] != 0, outputs
    refused = next(out for deploy, out in zip(deploys, outputs, strict=True) if deploy.returncode)
    assert re.search(r"another deploy holds the lock on /srv/\w+: \S+@\S+ since ", refused)
    assert "fab unlock --target=production" in refused
    assert served_version(server) == git(server[0], "rev-parse", "HEAD")


def test_the_server_goes_down_leaving_no_namespace(server):
    run([SERVER, "down"], cwd=server[0])
    assert f"{PROJECT}-e2e" not in run(["ip", "netns", "list"], cwd=server[0]).stdout
