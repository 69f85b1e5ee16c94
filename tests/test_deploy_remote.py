"""The deploy steps that need no app server, run on this machine through invoke.Context."""

import configparser
import getpass
import io
import os
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from invoke import Config, Context, MockContext, Result

from deploy import lock, remote, workflow
from deploy.build import PROJECT, PROJECT_ROOT, render
from deploy.remote import DeployError
from deploy.targets import Target

from .helpers import script

# The helper provisioning installs (roles/deploy_user), as the server runs it.
DEPLOY_HELPER = script("provisioning/roles/deploy_user/files/deploy_helper.py")


@pytest.fixture
def target(tmp_path, monkeypatch):
    root = tmp_path / "srv"
    for folder in ("srv/releases", "srv/venvs", "log/deploy", "run"):
        (tmp_path / folder).mkdir(parents=True)
    # The deploy helper, root's on a server: here a script that notes its
    # arguments, and the releases whose programs it installed.
    helper = tmp_path / "helper"
    (tmp_path / "programs").mkdir()
    helper.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp_path}/helper.calls\n'
        'case "$1" in\n'
        f'  install-programs) cat > /dev/null; touch {tmp_path}/programs/"$2" ;;\n'
        f'  remove-programs) rm -f {tmp_path}/programs/"$2" ;;\n'
        f"  releases) ls {tmp_path}/programs ;;\n"
        "esac\n"
    )
    helper.chmod(0o755)
    monkeypatch.setattr(remote, "as_root", lambda target, *args: " ".join([target.helper, *args]))
    return Target(
        name="test",
        hosts=[],
        server_names=["localhost"],
        root=str(root),
        user=getpass.getuser(),
        keep_releases=2,
        log_dir=str(tmp_path / "log"),
        runtime_dir=str(tmp_path / "run"),
        env_file=str(tmp_path / "env"),
        helper=str(helper),
    )


def helper_calls(target):
    calls = Path(target.helper).with_suffix(".calls")
    return calls.read_text().splitlines() if calls.exists() else []


def local():
    # Commands read no input: pytest owns this process's stdin.
    return Context(config=Config(overrides={"run": {"in_stream": False}}))


@pytest.fixture
def c():
    return local()


def archive(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def test_a_release_is_unpacked_under_a_temporary_name_and_named_when_whole(c, target, tmp_path):
    upload = archive(tmp_path / "up.tar.gz", {"manage": "#!/bin/sh\n", "conf/x": "x\n"})
    release = tmp_path / "srv" / "releases" / "20261125T101500Z"
    unfinished = f"{release}{remote.UNFINISHED}"
    remote.unpack(c, target, str(upload), unfinished, "20261125T101500Z", "abc123")
    # A deploy cut off here leaves nothing that passes for a release.
    assert remote.releases(c, target) == []
    remote.finish(c, target, "20261125T101500Z")
    assert remote.releases(c, target) == ["20261125T101500Z"]
    assert (release / "manage").read_text() == "#!/bin/sh\n"
    assert (release / "VERSION").read_text().startswith("abc123 20")
    # The app server's socket is in the app's runtime folder, found through the release.
    socket = release / "run" / "gunicorn.sock"
    assert socket.is_symlink()
    assert str(socket.readlink()) == f"{target.runtime_dir}/20261125T101500Z.sock"
    assert not upload.exists()
    assert remote.version(c, target, "20261125T101500Z").startswith("abc123 ")


def make_release(target, name, venv="v1", served=True):
    """A finished release; ``served``: as if it had been current once."""
    release = f"{target.root}/releases/{name}"
    local().run(
        f"mkdir -p {release} {target.root}/venvs/{venv} && "
        f"ln -sfn ../../venvs/{venv} {release}/.venv && echo sha-{name} > {release}/VERSION"
        + (f" && touch {release}/{remote.SERVED}" if served else "")
    )


def test_switch_points_current_at_a_release_in_one_rename(c, target):
    make_release(target, "20260101T000000Z")
    make_release(target, "20260102T000000Z")
    assert remote.current(c, target) is None
    remote.switch(c, target, "20260101T000000Z")
    assert remote.current(c, target) == "20260101T000000Z"
    remote.switch(c, target, "20260102T000000Z")
    assert remote.current(c, target) == "20260102T000000Z"
    assert c.run(f"readlink {target.root}/current", hide=True).stdout.strip() == (
        "releases/20260102T000000Z"
    )
    assert remote.releases(c, target) == ["20260101T000000Z", "20260102T000000Z"]


def test_prune_keeps_the_newest_releases_the_current_one_and_their_virtualenvs(c, target):
    for day, venv in [("01", "old"), ("02", "old"), ("03", "mid"), ("04", "new")]:
        make_release(target, f"202601{day}T000000Z", venv)
    remote.switch(c, target, "20260101T000000Z")  # e.g. after a rollback
    remote.prune(c, replace(target, keep_releases=2))
    assert remote.releases(c, target) == [
        "20260101T000000Z",
        "20260103T000000Z",
        "20260104T000000Z",
    ]
    assert sorted(c.run(f"ls {target.root}/venvs", hide=True).stdout.split()) == [
        "mid",
        "new",
        "old",
    ]
    remote.switch(c, target, "20260104T000000Z")
    remote.prune(c, replace(target, keep_releases=1))
    assert remote.releases(c, target) == ["20260104T000000Z"]
    assert c.run(f"ls {target.root}/venvs", hide=True).stdout.split() == ["new"]


def test_a_target_keeps_at_least_the_current_release(target):
    with pytest.raises(ValueError, match="keep_releases must be 1 or more"):
        replace(target, keep_releases=0)


def test_prune_removes_what_rollbacks_and_cut_off_deploys_left(c, target):
    for day, venv in [("01", "a"), ("02", "b"), ("03", "c"), ("04", "d")]:
        make_release(target, f"202601{day}T000000Z", venv)
        local().run(f"touch {remote.log_file(target, 'pip', venv)}")
    # 04 was rolled back from, to 03; then 03 was current when 05 was deployed.
    remote.switch(c, target, "20260104T000000Z")
    remote.switch(c, target, "20260103T000000Z")
    remote.mark_rolled_back(c, target, "20260104T000000Z")
    make_release(target, "20260105T000000Z", "c")
    remote.switch(c, target, "20260105T000000Z")
    local().run(f"mkdir {target.root}/releases/20260106T000000Z{remote.UNFINISHED}")
    local().run(f"touch {target.root}/releases/20260106T000000Z.tar.gz")
    assert remote.rolled_back(c, target) == {"20260104T000000Z"}
    remote.prune(c, target)  # keep_releases=2
    # What served before 05 stays its rollback target; 04 does not come back.
    assert c.run(f"ls {target.root}/releases", hide=True).stdout.split() == [
        "20260103T000000Z",
        "20260105T000000Z",
    ]
    assert c.run(f"ls {target.root}/venvs", hide=True).stdout.split() == ["c"]
    assert c.run(f"ls {target.deploy_log_dir}", hide=True).stdout.split() == ["pip-c.log"]
    # The programs' logs are root's: the helper prunes those older than the kept releases.
    assert helper_calls(target)[-1] == "prune-logs 20260103T000000Z"


def test_switching_to_a_release_clears_its_rollback_mark(c, target):
    make_release(target, "20260101T000000Z")
    remote.mark_rolled_back(c, target, "20260101T000000Z")
    remote.switch(c, target, "20260101T000000Z")  # fab rollback --release: chosen by name
    assert remote.rolled_back(c, target) == set()


def test_a_failing_step_names_itself_and_its_log(c, target):
    with pytest.raises(DeployError) as failed:
        remote.run(c, "echo oops >&2; exit 3", "the migrations", "/srv/x/shared/logs/deploy.log")
    assert (
        str(failed.value) == "the migrations failed; its log: /srv/x/shared/logs/deploy.log\noops"
    )


def test_a_virtualenv_is_built_once_per_requirements_and_runs_where_it_stays(c, target, tmp_path):
    first = tmp_path / "srv" / "releases" / "one"
    second = tmp_path / "srv" / "releases" / "two"
    for release in (first, second):
        (release / "requirements").mkdir(parents=True)
        # No packages: the virtualenv itself is what is under test, offline.
        (release / "requirements" / "deployment.txt").write_text("# nothing\n")
    key = remote.virtualenv(c, target, str(first))
    venv = tmp_path / "srv" / "venvs" / key
    assert (first / ".venv").resolve() == venv
    # Its scripts name the interpreter by the path they are used from.
    assert c.run(f"{first}/.venv/bin/pip --version", hide=True, warn=True).ok
    marker = venv / remote.VENV_COMPLETE
    built = marker.stat().st_mtime_ns
    assert remote.virtualenv(c, target, str(second)) == key
    assert marker.stat().st_mtime_ns == built
    (second / "requirements" / "deployment.txt").write_text("# changed\n")
    assert remote.virtualenv(c, target, str(second)) != key


def test_a_failed_install_names_its_log_and_leaves_no_usable_virtualenv(c, target, tmp_path):
    release = tmp_path / "srv" / "releases" / "one"
    (release / "requirements").mkdir(parents=True)
    (release / "requirements" / "deployment.txt").write_text("no-such-package-x==1.0\n")
    with pytest.raises(DeployError) as failed:
        remote.virtualenv(c, target, str(release))
    assert "installing the requirements failed; its log: " in str(failed.value)
    assert not list((tmp_path / "srv" / "venvs").glob(f"*/{remote.VENV_COMPLETE}"))


def test_a_release_runs_as_one_supervisor_group_of_web_and_worker(target):
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(remote.supervisor_conf(target, "20261125T101500Z"))
    groups = [name for name in conf.sections() if name.startswith("group:")]
    assert len(groups) == 1
    programs = conf[groups[0]]["programs"].split(",")
    assert sorted(f"program:{name}" for name in programs) == sorted(
        name for name in conf.sections() if name.startswith("program:")
    )
    group, web = remote.web_program("20261125T101500Z").split(":")
    assert f"group:{group}" in groups and web in programs
    program = conf[f"program:{web}"]
    assert f"unix:{target.runtime_dir}/20261125T101500Z.sock" in program["environment"]
    assert program["user"] == target.user
    assert program["stdout_logfile"] == f"{target.log_dir}/web-20261125T101500Z.log"


@pytest.mark.parametrize(("uid", "refused"), [("0\n", True), ("1000\n", False), ("998\n", False)])
def test_deploys_refuse_to_log_in_as_root(uid, refused):
    c = MockContext(run={"id -u": Result(uid)})
    if refused:
        with pytest.raises(DeployError, match="never as root.*deploy@HOST"):
            remote.refuse_root(c)
    else:
        remote.refuse_root(c)


def test_a_host_provisioned_for_another_environment_is_refused_naming_both(c, target):
    Path(target.env_file).write_text("DJANGO_ENV='staging'\nOTHER='a b'\n")
    with pytest.raises(DeployError) as refused:
        remote.check_environment(c, target)
    message = str(refused.value)
    assert "target test runs the settings environment 'deployment'" in message
    assert "this host was provisioned for 'staging'" in message
    assert "app_environment: deployment" in message
    Path(target.env_file).write_text("DJANGO_ENV='deployment'\n")
    remote.check_environment(c, target)


def test_an_unreadable_env_file_says_to_provision_the_server(c, target):
    with pytest.raises(DeployError, match=f"cannot read the env file {target.env_file}"):
        remote.check_environment(c, target)


def test_programs_and_site_go_to_the_helper_rendered_from_this_checkout(c, target):
    remote.start(c, target, "20261125T101500Z")
    remote.install_site(c, target)
    assert remote.with_programs(c, target) == ["20261125T101500Z"]
    remote.stop(c, target, "20261125T101500Z")
    assert helper_calls(target) == [
        "install-programs 20261125T101500Z",
        "install-site",
        "releases",
        "remove-programs 20261125T101500Z",
    ]


def test_every_release_but_the_one_kept_is_stopped(c, target):
    for name in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        remote.start(c, target, name)
    assert remote.stop_others(c, target, "20260102T000000Z") == [
        "20260101T000000Z",
        "20260103T000000Z",
    ]
    assert remote.with_programs(c, target) == ["20260102T000000Z"]


def helper_config(helper, target):
    """The helper's configuration as roles/deploy_user writes it for ``target``'s server."""
    return helper.Config(
        project=PROJECT,
        app_user=target.user,
        root=target.root,
        log_dir=target.log_dir,
        runtime_dir=target.runtime_dir,
        media_root=target.media_root,
        supervisor_conf_dir="/etc/supervisor/conf.d",
        nginx_site=f"/etc/nginx/sites-enabled/{PROJECT}.conf",
        nginx_include_dir=f"/etc/nginx/{PROJECT}",
    )


def test_the_targets_find_what_provisioning_puts_on_the_server():
    variables = yaml.safe_load(
        (PROJECT_ROOT / "provisioning" / "group_vars" / "all.yml").read_text()
    )
    target = Target(name="production", hosts=[], server_names=["example.com"])
    assert (target.root, target.user) == (variables["app_root"], variables["app_user"])
    assert target.env_file == variables["app_env_file"]
    assert target.log_dir == variables["app_log_dir"]
    assert target.runtime_dir == variables["app_runtime_dir"]
    assert target.media_root == variables["app_media_root"]
    assert target.helper == f"/usr/local/lib/{variables['app_name']}/deploy_helper.py"


def test_the_deploy_helper_accepts_the_programs_and_site_this_checkout_renders():
    helper = DEPLOY_HELPER
    target = Target(name="production", hosts=[], server_names=["example.com", "www.example.com"])
    config = helper_config(helper, target)
    release = "20261125T101500Z"
    programs = helper.check_programs(config, release, remote.supervisor_conf(target, release))
    assert sorted(programs) == [f"{PROJECT}-web-{release}", f"{PROJECT}-worker-{release}"]
    helper.check_site(config, render(target, "conf/nginx.conf.j2"))


def test_the_site_limits_logins_and_shows_health_only_to_listed_addresses():
    helper = DEPLOY_HELPER
    target = Target(
        name="production", hosts=[], server_names=["example.com"], health_allow=["192.0.2.7"]
    )
    config = helper_config(helper, target)
    # The helper accepts it, and parses it as nginx does: each location's directives.
    server, locations, location = [], {}, None
    for d in helper.check_site(config, render(target, "conf/nginx.conf.j2")):
        if d.name == "location":
            location = " ".join(d.args)
            locations[location] = []
        elif d.context[-1:] == ("location",):
            locations[location].append((d.name, *d.args))
        elif d.context == ("server",):
            server.append((d.name, *d.args))
        elif d.context == () and d.name == "limit_req_zone":
            zone = d
    # Set once for the server, inherited by every location, which sets none.
    assert ("proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for") in server
    assert ("proxy_set_header", "Host", "$host") in server
    assert ("limit_req_status", "429") in server
    assert zone.args[1:] == [f"zone={PROJECT}_login:10m", "rate=20r/m"]
    # Keyed by the client's address, for POSTs only (an empty key is not counted).
    assert zone.args[0] == f"${PROJECT}_login_client"
    app = ("proxy_pass", f"http://{PROJECT}_app")
    limit = ("limit_req", f"zone={PROJECT}_login", "burst=10", "nodelay")
    assert locations["= /api/auth/token/"] == [limit, app]
    assert locations["= /admin/login/"] == [limit, app]
    assert locations["= /health/"] == [
        ("allow", "127.0.0.1"),
        ("allow", "::1"),
        ("allow", "192.0.2.7"),
        ("deny", "all"),
        app,
    ]
    # /health/live/ is everyone's, as everything else the app serves.
    assert locations["/"] == [app]
    # Without health_allow, only the host itself.
    site = render(replace(target, health_allow=[]), "conf/nginx.conf.j2")
    assert "192.0.2.7" not in site
    assert "allow ::1;\n        deny all;" in site


def test_in_maintenance_every_request_but_health_gets_the_projects_page():
    target = Target(name="production", hosts=[], server_names=["example.com"])
    site = render(target, "conf/nginx.conf.j2")
    # The helper accepts it, and its flag file is where the site looks.
    helper = DEPLOY_HELPER
    config = helper_config(helper, target)
    helper.check_site(config, site)
    # Single braces only: startproject renders this file with Django's template engine.
    assert f"if (-f {helper.maintenance_flag(config)}) " + "{" in site
    for exempt in ("/health/", "/maintenance.html"):
        assert f"if ($uri = {exempt}) " + '{\n        set $maintenance "";' in site
    assert "error_page 503 /maintenance.html;" in site
    page = site.split("location = /maintenance.html {", 1)[1].split("}", 1)[0]
    assert "internal;" in page
    assert f"alias {target.root}/current/conf/maintenance.html;" in page
    assert "add_header Retry-After 120 always;" in page
    assert (PROJECT_ROOT / "conf" / "maintenance.html").read_text().startswith("<!doctype html>")


def test_fingerprinted_static_files_are_kept_a_year_and_others_checked_each_time():
    target = Target(name="production", hosts=[], server_names=["example.com"])
    directives = DEPLOY_HELPER.check_site(
        helper_config(DEPLOY_HELPER, target), render(target, "conf/nginx.conf.j2")
    )
    maps = [d for d in directives if d.name == "map"]
    assert any(d.args == ["$uri", f"${PROJECT}_static_cache"] for d in maps), maps
    site = render(target, "conf/nginx.conf.j2")
    assert '"~\\.[0-9a-f]{12}\\.[A-Za-z0-9]+$" "public, max-age=31536000, immutable";' in site
    location = site.split("location /static/ {", 1)[1].split("}", 1)[0]
    # Its own add_header drops the inherited security headers: it includes them again.
    assert f"add_header Cache-Control ${PROJECT}_static_cache;" in location
    assert "include /etc/nginx/snippets/security_headers.conf;" in location
    assert "expires" not in location


@pytest.fixture
def serving(c, target, monkeypatch):
    """Release 02 current (01 before it), on a server where the deploy's checks pass."""
    for name in ("20260101T000000Z", "20260102T000000Z"):
        make_release(target, name)
        c.run(f"mkdir {target.root}/releases/{name}/run")
        remote.switch(c, target, name)
    # 02 runs; the helper's calls from here on are the test's.
    Path(target.helper).with_name("programs").joinpath("20260102T000000Z").touch()
    Path(target.env_file).write_text("DJANGO_ENV='deployment'\n")
    checked = []

    def check_health(c, target, release, **_):
        checked.append(release)

    monkeypatch.setattr(remote, "refuse_root", lambda c: None)
    monkeypatch.setattr(remote, "check_health", check_health)
    monkeypatch.setattr(remote, "release_name", lambda c, target: "20260103T000000Z")
    return checked


def test_a_restart_serves_a_fresh_copy_of_the_current_release_in_its_place(c, target, serving):
    assert workflow.restart(c, target, log=lambda line: None) == "20260103T000000Z"
    assert remote.current(c, target) == "20260103T000000Z"
    # The original goes: a rollback after a restart goes to the release before it.
    assert remote.releases(c, target) == ["20260101T000000Z", "20260103T000000Z"]
    assert remote.version(c, target, "20260103T000000Z") == "sha-20260102T000000Z"
    socket = Path(target.release_path("20260103T000000Z")) / "run" / "gunicorn.sock"
    assert str(socket.readlink()) == f"{target.runtime_dir}/20260103T000000Z.sock"
    # Started and found healthy before the switch; the original stopped after it.
    assert serving == ["20260103T000000Z"]
    # The original's worker stopped before the copy's started: one takes tasks at a time.
    assert helper_calls(target) == [
        "stop-worker 20260102T000000Z",
        "install-programs 20260103T000000Z",
        "releases",
        "remove-programs 20260102T000000Z",
    ]
    assert remote.served(c, target) == {"20260101T000000Z", "20260103T000000Z"}


def test_a_restart_that_fails_its_health_check_leaves_the_current_release_serving(
    c, target, serving, monkeypatch
):
    def unhealthy(c, target, release, **_):
        raise DeployError(f"the health check of release {release} failed")

    monkeypatch.setattr(remote, "check_health", unhealthy)
    with pytest.raises(DeployError, match="health check of release 20260103T000000Z"):
        workflow.restart(c, target, log=lambda line: None)
    assert remote.current(c, target) == "20260102T000000Z"
    assert remote.releases(c, target) == ["20260101T000000Z", "20260102T000000Z"]
    # The failed restart has the lock's holder look once more: 02 alone runs.
    assert helper_calls(target) == [
        "stop-worker 20260102T000000Z",
        "install-programs 20260103T000000Z",
        "remove-programs 20260103T000000Z",
        "start-worker 20260102T000000Z",
        "releases",
        "start-worker 20260102T000000Z",
    ]


# The lock, and what its holder does when a deploy is cut off.


def test_a_second_deploy_is_refused_naming_the_holder(c, target):
    held = lock.take(c, target)
    with pytest.raises(DeployError) as refused:
        lock.take(c, target)
    message = str(refused.value)
    assert f"another deploy holds the lock on {target.root}: {getpass.getuser()}@" in message
    assert " since " in message
    assert "fab unlock --target=test" in message
    lock.release(held)
    lock.release(lock.take(c, target))  # free again
    assert not Path(lock.holder_path(target)).exists()
    assert helper_calls(target) == []  # a deploy that ended well leaves it all as it is


def test_deploying_to_a_server_without_the_root_says_to_provision_it(c, target, tmp_path):
    missing = replace(target, root=str(tmp_path / "nowhere"))
    with pytest.raises(DeployError) as refused:
        lock.take(c, missing)
    assert f"there is no {missing.root} on the server: provision it first" in str(refused.value)


def test_an_older_versions_lock_is_named_and_unlock_removes_it(c, target, tmp_path):
    os.symlink("deploy@laptop since 2026-11-01", lock.lock_path(target))
    with pytest.raises(DeployError, match="an older version's lock"):
        lock.take(c, target)
    assert lock.break_lock(c, target) == "removed an older version's lock"
    lock.release(lock.take(c, target))


def test_unlock_stops_a_holder_that_hangs(c, target):
    held = lock.take(c, target)
    assert lock.break_lock(c, target).startswith("stopped the lock's holder, pid ")
    held.promise.join()
    os.close(held.release_pipe)
    lock.release(lock.take(c, target))


def cut_off_deploy(c, target):
    """Current 02 (served), its programs and those of 03, started but never switched to."""
    for name in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        make_release(target, name, served=name < "20260103T000000Z")
        remote.start(c, target, name)
    remote.switch(c, target, "20260101T000000Z")
    remote.switch(c, target, "20260102T000000Z")
    c.run(f"mkdir {target.root}/releases/20260104T000000Z{remote.UNFINISHED}")


def test_a_deploy_cut_off_leaves_one_release_running_and_frees_the_lock(c, target):
    cut_off_deploy(c, target)
    held = lock.take(c, target)
    # A step the lost connection left running: the holder waits for it to end.
    step = lock.Steps(c, target).run(
        f"sleep 1 && touch {target.root}/releases/20260105T000000Z.tar.gz", asynchronous=True
    )
    time.sleep(0.2)
    os.close(held.release_pipe)  # what a lost connection looks like to the holder
    held.promise.join()
    step.join()
    assert remote.current(c, target) == "20260102T000000Z"
    assert remote.with_programs(c, target) == ["20260102T000000Z"]
    # Served releases stay rollback targets; what the deploy half made goes.
    assert c.run(f"ls {target.root}/releases", hide=True).stdout.split() == [
        "20260101T000000Z",
        "20260102T000000Z",
    ]
    log = Path(remote.log_file(target, "deploy", "lock")).read_text()
    assert "was cut off; waiting for its steps to end" in log
    assert "stopped the programs of 20260101T000000Z" in log
    # Stopped while the cut-off deploy's release started: the current worker runs again.
    assert "the worker of 20260102T000000Z runs" in log
    assert "removed 20260105T000000Z.tar.gz" in log
    lock.release(lock.take(c, target))


def test_a_failed_deploy_has_the_holder_leave_one_release_running(c, target, monkeypatch):
    monkeypatch.setattr(remote, "refuse_root", lambda c: None)
    cut_off_deploy(c, target)
    with pytest.raises(RuntimeError), workflow.locked(c, target):
        raise RuntimeError("anything, not only a DeployError")
    assert remote.with_programs(c, target) == ["20260102T000000Z"]
    assert (
        "failed; waiting for its steps"
        in Path(remote.log_file(target, "deploy", "lock")).read_text()
    )


def test_every_command_of_a_locked_deploy_holds_the_steps_lock(target):
    command = lock.in_steps(target, "echo 'a b'")
    assert command == f"flock --shared {target.root}/deploy.steps sh -c 'echo '\"'\"'a b'\"'\"''"
    assert local().run(command, hide=True).stdout == "a b\n"


# Release names and the marks of releases that served.


def test_a_release_is_named_by_the_servers_clock(c, target):
    before = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = remote.release_name(c, target)
    assert before <= name <= time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def test_a_release_name_sorts_after_a_release_of_this_second(c, target):
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    make_release(target, now)
    assert remote.release_name(c, target) > now


def test_a_server_clock_behind_its_newest_release_is_refused(c, target):
    ahead = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + 600))
    c.run(f"mkdir {target.root}/releases/{ahead}{remote.UNFINISHED}")
    with pytest.raises(DeployError) as refused:
        remote.release_name(c, target)
    assert f"before its newest release {ahead}" in str(refused.value)
    assert "Set the server's clock right" in str(refused.value)


def test_a_release_that_never_served_is_no_rollback_target_and_is_pruned(c, target):
    for name in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        make_release(target, name, served=False)
    remote.switch(c, target, "20260101T000000Z")
    remote.switch(c, target, "20260103T000000Z")  # 02: made, never switched to
    names, active = remote.releases(c, target), remote.current(c, target)
    assert workflow.previous_release(names, active, set(), remote.served(c, target)) == (
        "20260101T000000Z"
    )
    remote.prune(c, target)
    assert remote.releases(c, target) == ["20260101T000000Z", "20260103T000000Z"]


def test_the_releases_of_older_deploys_count_as_served_up_to_the_current_one(c, target):
    for name in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        make_release(target, name, served=False)
    # As an older version left them: no marks; 03 rolled back from, to 02.
    c.run(f"cd {target.root} && ln -s releases/20260102T000000Z current")
    remote.mark_rolled_back(c, target, "20260103T000000Z")
    remote.adopt_releases(c, target)
    assert remote.served(c, target) == set(remote.releases(c, target))
    remote.adopt_releases(c, target)  # once marked, nothing more


def test_any_failure_after_the_switch_goes_back_to_the_previous_release(
    c, target, serving, monkeypatch
):
    make_release(target, "20260103T000000Z", served=False)
    remote.start(c, target, "20260103T000000Z")

    def interrupted(c, target, release, **_):
        if release == "20260103T000000Z":
            raise KeyboardInterrupt

    monkeypatch.setattr(remote, "check_health", interrupted)
    with pytest.raises(KeyboardInterrupt):
        workflow._switch_checked(
            c, target, "20260103T000000Z", "20260102T000000Z", log=lambda line: None
        )
    assert remote.current(c, target) == "20260102T000000Z"
    assert remote.releases(c, target) == ["20260101T000000Z", "20260102T000000Z"]
    # The previous release's worker, stopped for the new one, takes tasks again.
    assert helper_calls(target)[-1] == "start-worker 20260102T000000Z"
    assert remote.with_programs(c, target) == ["20260102T000000Z"]
