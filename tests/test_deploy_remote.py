"""The deploy steps that need no app server, run on this machine through invoke.Context."""

import configparser
import getpass
import io
import tarfile
from dataclasses import replace

import pytest
from invoke import Config, Context

from deploy import remote
from deploy.build import PROJECT_ROOT
from deploy.remote import DeployError
from deploy.targets import Target


@pytest.fixture
def target(tmp_path):
    root = tmp_path / "srv"
    for folder in ("releases", "venvs", "shared/logs"):
        (root / folder).mkdir(parents=True)
    return Target(
        name="test",
        hosts=[],
        server_names=["localhost"],
        root=str(root),
        user=getpass.getuser(),
        keep_releases=2,
    )


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


def test_a_second_deploy_is_refused_naming_the_holder(c, target):
    remote.lock(c, target)
    with pytest.raises(DeployError) as refused:
        remote.lock(c, target)
    message = str(refused.value)
    assert f"another deploy holds the lock on {target.root}: {getpass.getuser()}@" in message
    assert " since " in message
    assert "fab unlock --target=test" in message
    remote.unlock(c, target)
    remote.lock(c, target)  # free again


def test_a_release_is_unpacked_under_a_temporary_name_and_named_when_whole(c, target, tmp_path):
    upload = archive(tmp_path / "up.tar.gz", {"manage": "#!/bin/sh\n", "conf/x": "x\n"})
    release = tmp_path / "srv" / "releases" / "20261125T101500Z"
    unfinished = f"{release}{remote.UNFINISHED}"
    remote.unpack(c, target, str(upload), unfinished, "abc123")
    # A deploy cut off here leaves nothing that passes for a release.
    assert remote.releases(c, target) == []
    remote.finish(c, target, "20261125T101500Z")
    assert remote.releases(c, target) == ["20261125T101500Z"]
    assert (release / "manage").read_text() == "#!/bin/sh\n"
    assert (release / "VERSION").read_text().startswith("abc123 20")
    assert (release / "run").is_dir()
    assert (release / "staticfiles").is_dir()
    assert not upload.exists()
    assert remote.version(c, target, "20261125T101500Z").startswith("abc123 ")


def make_release(target, name, venv="v1"):
    release = f"{target.root}/releases/{name}"
    local().run(
        f"mkdir -p {release} {target.root}/venvs/{venv} && "
        f"ln -sfn ../../venvs/{venv} {release}/.venv && echo sha-{name} > {release}/VERSION"
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
    assert c.run(f"ls {target.root}/shared/logs", hide=True).stdout.split() == ["pip-c.log"]


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


def test_deploying_to_a_server_without_the_root_says_to_provision_it(c, target, tmp_path):
    missing = replace(target, root=str(tmp_path / "nowhere"))
    with pytest.raises(DeployError) as refused:
        remote.lock(c, missing)
    assert f"there is no {missing.root} on the server: provision it first" in str(refused.value)


def test_a_release_runs_as_one_supervisor_group_of_web_and_worker(target):
    conf = configparser.ConfigParser(interpolation=None)
    template = (PROJECT_ROOT / "conf" / "supervisor.conf.j2").read_text()
    conf.read_string(remote.supervisor_conf(target, "20261125T101500Z", template))
    groups = [name for name in conf.sections() if name.startswith("group:")]
    assert len(groups) == 1
    programs = conf[groups[0]]["programs"].split(",")
    assert sorted(f"program:{name}" for name in programs) == sorted(
        name for name in conf.sections() if name.startswith("program:")
    )
    group, web = remote.web_program("20261125T101500Z").split(":")
    assert f"group:{group}" in groups and web in programs
    assert "20261125T101500Z/run/gunicorn.sock" in conf[f"program:{web}"]["environment"]
