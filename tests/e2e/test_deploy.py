"""Deploys with fab to the provisioned server: serving, under load, broken on purpose, rolled back.

A load generator requests pages through nginx during every deploy and
rollback that must not disturb the site: not one request may fail.
"""

import json
import re
import shlex
import subprocess
import time

import pytest

from benchmarks.load import Background

from .conftest import DEPLOY, NAME, check_lines, check_server, provision
from .lab import ACME_ROOT

CHANGED_SITE_PATH = "/e2e-site-changed"
# Single braces only: startproject renders this file with Django's template engine.
CHANGED_SITE = ("    location / {", f"    location = {CHANGED_SITE_PATH} " + "{ return 204; }\n")
RELEASE = r"\d{8}T\d{6}Z"


def served_version(server):
    status, body, _ = server.get("/health/")
    assert status == 200, body
    return json.loads(body)["version"].split()[0]


def releases(project):
    return re.findall(RELEASE, project.fab("releases").stdout)


class Load(Background):
    """Pages requested through the server's nginx until the block ends; the report after."""

    def __init__(self, server):
        urls = [f"https://{server.name}{path}" for path in ("/health/", "/api/articles/")]
        super().__init__(urls, connect=server.address, cafile=ACME_ROOT)


def deploy_under_load(project, check=True):
    with Load(project.server) as load:
        result = project.fab("deploy", check=check)
    print(result.stdout, result.stderr, load.report, sep="\n")
    assert load.report["requests"] > 50, load.report
    return result, load.report


@pytest.mark.every_suite
def test_a_first_deploy_serves_health_and_the_api_through_nginx(project, web):
    sha = project.git("rev-parse", "HEAD")
    result = project.fab("deploy")
    assert f"({sha})" in result.stdout
    assert served_version(web) == sha
    status, body, headers = web.get("/api/articles/")
    assert status == 200
    assert json.loads(body)["results"] == []
    # Pages link static files by fingerprinted names, which browsers keep a year.
    login = web.get("/admin/login/")[1].decode()
    hashed = re.search(r'href="/static/(admin/css/base\.[0-9a-f]{12}\.css)"', login)[1]
    manifest = json.loads(web.get("/static/staticfiles.json")[1])
    assert manifest["paths"]["admin/css/base.css"] == hashed
    static_status, _, static_headers = web.get(f"/static/{hashed}")
    assert static_status == 200
    assert ("Cache-Control", "public, max-age=31536000, immutable") in static_headers
    # A plain name may change at the next deploy: checked at each use.
    plain_status, _, plain_headers = web.get("/static/admin/css/base.css")
    assert plain_status == 200
    assert ("Cache-Control", "no-cache") in plain_headers
    # Each security header once: from the app where it sent one, from nginx elsewhere.
    for pairs in (headers, static_headers, plain_headers):
        names = [name.lower() for name, _ in pairs]
        for header in ("x-frame-options", "x-content-type-options", "referrer-policy"):
            assert names.count(header) == 1, pairs


def test_nginx_serves_the_site_over_https_and_refuses_unknown_names(project, lab, web):
    result = check_server(lab, web, site=web.name)
    checks = check_lines(result)
    site_checks = {name: passed for name, passed in checks.items() if name.startswith("nginx")}
    assert len(site_checks) == 4 and all(site_checks.values()), result.stdout


def test_a_server_whose_host_key_is_unknown_is_refused(project, web, tmp_path):
    result = project.fab("releases", check=False, home=tmp_path)
    assert result.returncode != 0
    assert f"{web.address} is not in ~/.ssh/known_hosts: connect once with" in result.stderr


def test_a_deploy_under_load_fails_no_request(project, web):
    before = served_version(web)
    readme = project.root / "README.md"
    readme.write_text(readme.read_text() + "\nA change to deploy.\n")
    # A changed nginx site too, which the deploy installs and nginx reloads.
    site = project.root / "conf" / "nginx.conf.j2"
    site.write_text(site.read_text().replace(CHANGED_SITE[0], "\n".join(CHANGED_SITE), 1))
    sha = project.commit("A second release")
    _, load = deploy_under_load(project)
    assert load["failed"] == 0, load
    # Both releases answered while the load ran: the switch happened under it.
    assert {version.split()[0] for version in load["versions"]} == {before, sha}
    assert served_version(web) == sha
    assert web.get(CHANGED_SITE_PATH)[0] == 204


def assert_failed_deploy_left_old_release_serving(project, change, message, files, switched=False):
    """Commit ``files``, deploy under load, expect ``message``; then drop the commit.

    ``switched``: the new release was current for a moment before it was rolled back.
    """
    before, names = served_version(project.server), releases(project)
    for path, text in files.items():
        (project.root / path).write_text(text)
    project.commit(change)
    try:
        result, load = deploy_under_load(project, check=False)
    finally:
        project.git("reset", "-q", "--hard", "HEAD~1")
    assert result.returncode != 0
    assert re.search(message, result.stdout + result.stderr), result.stderr
    assert load["failed"] == 0, load
    if not switched:
        assert {version.split()[0] for version in load["versions"]} == {before}
    assert releases(project) == names
    assert served_version(project.server) == before


def test_a_failing_migration_leaves_the_old_release_serving(project):
    assert_failed_deploy_left_old_release_serving(
        project,
        "A migration that fails",
        r"the migrations failed; its log: /var/log/\w+/deploy/deploy-\w+\.log\n(.|\n)*on purpose",
        {
            f"{NAME}/apps/articles/migrations/0003_fails.py": (
                "from django.db import migrations\n\n\n"
                "def fail(apps, schema_editor):\n"
                "    raise RuntimeError('this migration fails on purpose')\n\n\n"
                "class Migration(migrations.Migration):\n"
                "    dependencies = [('articles', '0002_search_index')]\n"
                "    operations = [migrations.RunPython(fail)]\n"
            )
        },
    )


def test_a_migration_the_serving_release_cannot_survive_is_refused_before_any_runs(project):
    # 0003 drops a column the serving release reads, 0004 would fail: without the
    # check 0003 would stay applied and every article query of the old code fail.
    migrations = project.root / NAME / "apps" / "articles" / "migrations"
    models = project.root / NAME / "apps" / "articles" / "models.py"
    dropped, failing = migrations / "0003_remove_article_body.py", migrations / "0004_fails.py"
    assert_failed_deploy_left_old_release_serving(
        project,
        "A column dropped, then a migration that fails",
        r"the migration check refused the release, so nothing was migrated: 1 operation"
        r"(.|\n)*articles\.0003_remove_article_body: Remove field body from article"
        r"(.|\n)*drops a column \(DROP_COLUMN\)(.|\n)*--allow-breaking-migrations",
        {
            models: models.read_text().replace("    body = ", "    # body = ", 1),
            dropped: (
                "from django.db import migrations\n\n\n"
                "class Migration(migrations.Migration):\n"
                "    dependencies = [('articles', '0002_search_index')]\n"
                "    operations = [migrations.RemoveField('article', 'body')]\n"
            ),
            failing: (
                "from django.db import migrations\n\n\n"
                "def fail(apps, schema_editor):\n"
                "    raise RuntimeError('this migration fails on purpose')\n\n\n"
                "class Migration(migrations.Migration):\n"
                "    dependencies = [('articles', '0003_remove_article_body')]\n"
                "    operations = [migrations.RunPython(fail)]\n"
            ),
        },
    )
    # The table is as the serving release needs it: its API lists and creates articles.
    status, body, _ = project.server.get("/api/articles/")
    assert status == 200, body


def test_an_app_that_cannot_start_leaves_the_old_release_serving(project):
    wsgi = project.root / NAME / "wsgi.py"
    assert_failed_deploy_left_old_release_serving(
        project,
        "An app that cannot start",
        r"the health check of release \w+ failed; its log: /var/log/\w+/web-\w+\.log",
        {wsgi: wsgi.read_text() + "raise RuntimeError('this app cannot start')\n"},
    )


def test_an_nginx_site_that_nginx_refuses_leaves_the_old_release_and_site_serving(project, web):
    # Only the reviewed directives pass the deploy helper; this one has a bad value.
    site = project.root / "conf" / "nginx.conf.j2"
    text = site.read_text()
    broken = text.replace("    server_name ", "    client_max_body_size lots;\n    server_name ", 1)
    assert broken != text
    assert_failed_deploy_left_old_release_serving(
        project,
        "An nginx site that nginx refuses",
        r"installing the nginx site failed\n.*nginx -t refused the site, the previous one is kept",
        {site: broken},
    )
    assert web.get(CHANGED_SITE_PATH)[0] == 204


# A release whose /health/ answers the deploy once, then never again (requests
# through nginx carry X-Forwarded-For and are served): it fails only after the switch.
HEALTHY_ONCE = """

_serve = application


def application(environ, start_response):
    import os
    from pathlib import Path

    asked = Path(os.environ["GUNICORN_BIND"].removeprefix("unix:") + ".asked")
    if environ["PATH_INFO"] == "/health/" and "HTTP_X_FORWARDED_FOR" not in environ:
        if asked.exists():
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"healthy once only"]
        asked.touch()
    return _serve(environ, start_response)
"""


def test_a_release_failing_after_the_switch_is_rolled_back_automatically(project):
    wsgi = project.root / NAME / "wsgi.py"
    assert_failed_deploy_left_old_release_serving(
        project,
        "A release healthy only once",
        rf"the health check of release {RELEASE} failed(.|\n)*rolled back to {RELEASE}",
        {wsgi: wsgi.read_text() + HEALTHY_ONCE},
        switched=True,
    )


def test_rollback_serves_the_previous_version_under_load(project, web):
    names = releases(project)
    previous = project.fab("releases").stdout.split(names[-2])[1].split()[0]
    with Load(web) as load:
        result = project.fab("rollback")
    assert f"serving {names[-2]}" in result.stdout
    assert served_version(web) == previous
    # The site stays as the last deploy installed it: it serves whatever is current.
    assert web.get(CHANGED_SITE_PATH)[0] == 204
    assert load.report["failed"] == 0, load.report
    status = project.fab("status").stdout
    assert f"current {names[-2]} ({previous} " in status
    assert re.search(rf"{NAME}-web-{names[-2]} +RUNNING", status), status
    # The release rolled back from was stopped: only one release runs.
    assert status.count("RUNNING") == 2, status


def test_of_two_deploys_started_at_once_one_is_refused(project, web):
    deploys = [
        subprocess.Popen(  # noqa: S603 -- fab, with fixed arguments
            [str(part) for part in project.fab_command("deploy")],
            cwd=project.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [deploy.communicate(timeout=600)[0] for deploy in deploys]
    codes = sorted(deploy.returncode for deploy in deploys)
    assert codes[0] == 0 and codes[1] != 0, outputs
    refused = next(out for deploy, out in zip(deploys, outputs, strict=True) if deploy.returncode)
    assert re.search(r"another deploy holds the lock on /srv/\w+: \S+@\S+ since ", refused)
    assert f"fab unlock --target={project.TARGET}" in refused
    assert served_version(web) == project.git("rev-parse", "HEAD")


def test_a_build_refuses_changes_not_committed_and_a_missing_migration(project):
    migration = f"{NAME}/apps/articles/migrations/0003_never_added.py"
    (project.root / migration).write_text("# a migration nobody ran git add on\n")
    try:
        refused = project.fab("deploy", check=False)
        dirty = project.fab("deploy", "--dirty", check=False)
    finally:
        (project.root / migration).unlink()
    assert refused.returncode != 0
    assert "the checkout has changes that are not committed" in refused.stderr, refused.stderr
    assert f"?? {migration}" in refused.stderr
    assert dirty.returncode != 0
    assert f"target {project.TARGET} is production, which only gets committed" in dirty.stderr
    models = project.root / NAME / "apps" / "articles" / "models.py"
    models.write_text(
        models.read_text() + "\n\nclass Rating(models.Model):\n    stars = models.IntegerField()\n"
    )
    project.commit("A model without its migration")
    try:
        refused = project.fab("deploy", check=False)
    finally:
        project.git("reset", "-q", "--hard", "HEAD~1")
    assert refused.returncode != 0
    assert "the models have changes no migration holds" in refused.stderr, refused.stderr
    assert "Create model Rating" in refused.stderr


# What fab prints as a deploy reaches each stage (deploy/workflow.py).
STAGES = (
    "uploaded ",  # the upload done, the release being unpacked
    "virtualenv ",  # collectstatic and the migrations running
    "collectstatic and migrations done",  # the release being named, started
    " started beside ",  # the nginx site being installed, then the switch
    "current is now ",  # switched: the check through current running
)


def deploy_killed_at(project, stage: str) -> str:
    """Start fab deploy, kill it (SIGKILL) once it prints ``stage``; what it printed."""
    command = [str(part) for part in project.fab_command("deploy")]
    command.insert(1, "PYTHONUNBUFFERED=1")
    fab = subprocess.Popen(  # noqa: S603 -- fab, with fixed arguments
        command, cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    printed = []
    try:
        for line in fab.stdout:
            printed.append(line)
            if stage in line:
                fab.kill()
                break
    finally:
        fab.kill()
        fab.wait(timeout=60)
        fab.stdout.close()
    assert stage in "".join(printed), printed
    return "".join(printed)


def wait_until_the_lock_is_free(lab, web, seconds=120):
    """The holder of the killed deploy's lock ends once it has cleaned up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if lab.ssh_as("deploy", web, f"test -e /srv/{NAME}/deploy.holder").returncode == 1:
            return
        time.sleep(1)
    pytest.fail(f"the killed deploy's lock was still held after {seconds} s")


def test_a_deploy_killed_at_each_stage_leaves_one_release_running_and_a_clean_next_deploy(
    project, lab, web
):
    with Load(web) as load:
        for stage in STAGES:
            before = project.git("rev-parse", "HEAD")
            names = releases(project)
            deploy_killed_at(project, stage)
            wait_until_the_lock_is_free(lab, web)
            status = project.fab("status").stdout
            # Exactly one release runs: the current one's web and worker.
            assert status.count("RUNNING") == 2, (stage, status)
            current = re.search(rf"current ({RELEASE})", status)[1]
            assert re.search(rf"{NAME}-web-{current} +RUNNING", status), (stage, status)
            after = releases(project)
            if stage == STAGES[-1]:
                # Killed after its switch: its release, healthy before it, serves on.
                assert after[:-1] == names and current == after[-1], (stage, after)
            else:
                assert after == names and current == names[-1], (stage, after)
            assert served_version(web) == before
            left = lab.ssh_as("deploy", web, f"ls /srv/{NAME}/releases").stdout.split()
            assert all(re.fullmatch(RELEASE, name) for name in left), (stage, left)
            print(f"killed at {stage.strip()!r}: one release runs, {current}")
        log = lab.ssh_as("deploy", web, f"cat /var/log/{NAME}/deploy/deploy-lock.log").stdout
        assert log.count("was cut off; waiting for its steps to end") == len(STAGES), log
        result = project.fab("deploy")
    assert load.report["failed"] == 0, load.report
    assert "serving " in result.stdout
    status = project.fab("status").stdout
    assert status.count("RUNNING") == 2, status


# Tasks that note in the cache that they ran. The first release has "first";
# the next adds "second", which only it sends, and "slow", whose worker process
# the test kills mid-run.
FIRST_TASKS = """\
import os
import time

from celery import shared_task
from django.core.cache import cache


@shared_task(name="e2e.first")
def first(n):
    cache.set(f"e2e:first:{n}", 1, 3600)
"""
MORE_TASKS = """

@shared_task(name="e2e.second")
def second(n):
    cache.set(f"e2e:second:{n}", 1, 3600)


@shared_task(name="e2e.slow")
def slow(n):
    cache.set(f"e2e:slow-started:{n}", os.getpid(), 3600)  # the pool process running it
    time.sleep(5)
    cache.set(f"e2e:slow:{n}", 1, 3600)
"""
# Run on web1 from the first release's folder, as a web process would send
# them: "first" all along, and "second" only once `current` is another release.
SENDER = """
import json, os, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "PROJECT.settings")
import django
django.setup()
from PROJECT.celery import app
current, stop = "/srv/PROJECT/current", os.path.expanduser("~/e2e-stop")
started = os.readlink(current)
sent = dict(first=0, second=0)
deadline = time.monotonic() + 300
while time.monotonic() < deadline and not os.path.exists(stop):
    app.send_task("e2e.first", [sent["first"]])
    sent["first"] += 1
    if os.readlink(current) != started:
        app.send_task("e2e.second", [sent["second"]])
        sent["second"] += 1
    time.sleep(0.02)
print(json.dumps(sent), flush=True)
""".replace("PROJECT", NAME)
MISSING = """
import json
from django.core.cache import cache
sent = json.loads(SENT)
keys = [f"e2e:{kind}:{n}" for kind, count in sent.items() for n in range(count)]
print(json.dumps(sorted(set(keys) - set(cache.get_many(keys)))))
"""


def django_shell(lab, web, script: str, release: str = "current") -> str:
    """The last line ``script`` prints, run by manage shell in a release on web1."""
    shown = lab.ssh_as(
        DEPLOY,
        web,
        f"cd /srv/{NAME}/{release} && server/run .venv/bin/python manage shell -c "
        + shlex.quote(script),
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip().splitlines()[-1]


def wait_for(what: str, probe, seconds: float = 90):
    """Call ``probe`` until it returns something true (bounded); that value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(1)
    pytest.fail(f"{what}: not within {seconds} s")


def test_no_task_is_lost_or_unregistered_across_a_deploy_that_adds_a_task_type(project, lab, web):
    tasks = project.root / NAME / "apps" / "articles" / "tasks.py"
    tasks.write_text(FIRST_TASKS)
    project.commit("A task")
    project.fab("deploy")
    first = re.search(rf"current ({RELEASE})", project.fab("status").stdout)[1]
    lab.ssh_as(DEPLOY, web, "rm -f ~/e2e-stop")
    sender = subprocess.Popen(  # noqa: S603 -- ssh with the lab's own files
        lab.ssh_command(
            DEPLOY,
            web,
            f"cd /srv/{NAME}/releases/{first} && server/run .venv/bin/python -c "
            + shlex.quote(SENDER),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        tasks.write_text(FIRST_TASKS + MORE_TASKS)
        project.commit("A new task type")
        deployed = project.fab("deploy")
        time.sleep(3)
    finally:
        lab.ssh_as(DEPLOY, web, "touch ~/e2e-stop")
        out, err = sender.communicate(timeout=60)
    assert sender.returncode == 0, err
    sent = json.loads(out.strip().splitlines()[-1])
    assert sent["first"] > 100 and sent["second"] > 50, sent
    missing = MISSING.replace("SENT", repr(json.dumps(sent)))
    wait_for("every task sent ran", lambda: django_shell(lab, web, missing) == "[]")
    # The old worker stopped taking tasks before the new one started: none saw "second".
    logs = lab.ssh(web, f"grep -c 'unregistered task' /var/log/{NAME}/worker-*.log", check=False)
    assert all(line.endswith(":0") for line in logs.stdout.split()), logs.stdout
    print(f"tasks sent through the deploy and all run: {sent}")
    assert "serving " in deployed.stdout

    # A worker process killed mid-task (OOM, SIGKILL): the task goes back to the queue.
    django_shell(lab, web, f"from {NAME}.celery import app; app.send_task('e2e.slow', [1])")
    pid = wait_for(
        "the slow task started",
        lambda: json.loads(django_shell(lab, web, GET.replace("KEY", "e2e:slow-started:1"))),
    )
    lab.ssh(web, f"kill -KILL {int(pid)}")
    wait_for(
        "the killed task ran again to its end",
        lambda: json.loads(django_shell(lab, web, GET.replace("KEY", "e2e:slow:1"))),
    )
    again = json.loads(django_shell(lab, web, GET.replace("KEY", "e2e:slow-started:1")))
    assert again != pid, "the task was not run again in another worker process"


GET = "import json; from django.core.cache import cache; print(json.dumps(cache.get('KEY')))"


def test_maintenance_mode_answers_503_with_the_page_to_all_but_health(project, lab, web):
    assert project.fab("maintenance").stdout.strip().endswith(": maintenance off")
    project.fab("maintenance", "--on")
    try:
        status, body, headers = web.get("/api/articles/")
        assert status == 503, body
        assert b"Down for maintenance" in body
        assert ("Retry-After", "120") in headers
        names = [name.lower() for name, _ in headers]
        for header in ("x-frame-options", "x-content-type-options", "referrer-policy"):
            assert names.count(header) == 1, headers
        assert web.get("/static/admin/css/base.css")[0] == 503
        # Monitoring still sees the app, and ACME challenges still reach certbot's folder.
        assert web.get("/health/")[0] == 200
        assert web.get("/.well-known/acme-challenge/e2e-probe", https=False)[0] == 404
        # The page is only ever the 503's: no one fetches it by its name.
        assert web.get("/maintenance.html")[0] == 404
        assert project.fab("maintenance").stdout.strip().endswith(": maintenance on")
        # Only root's deploy helper switches it: the deploy user cannot.
        planted = lab.ssh_as(DEPLOY, web, f"rm -f /etc/nginx/{NAME}/maintenance.on")
        assert planted.returncode != 0
    finally:
        project.fab("maintenance", "--off")
    assert web.get("/api/articles/")[0] == 200


def test_a_second_operator_provisioning_from_a_fresh_clone_changes_nothing(project, lab, web):
    # A clone holds no secret: only the vault in the repository (here beside the
    # lab's inventory) and its password, which the team shares.
    with Load(web) as load:
        again = provision(lab, "provision-clone.log", root=project.root)
    assert (again.changed, again.failed) == (0, 0), again.output[-3000:]
    assert load.report["failed"] == 0, load.report
