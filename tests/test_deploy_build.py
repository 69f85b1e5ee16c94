"""fab build: the release archive, from a git checkout of the project."""

import shutil
import subprocess
import tarfile

import pytest

from deploy.build import PROJECT, PROJECT_ROOT, build
from deploy.deploymap import DeployMapError
from deploy.targets import Target

TARGET = Target(
    name="staging",
    hosts=["deploy@host"],
    server_names=["shop.example"],
    environment="staging",
    root="/srv/shop",
)


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path):
    """A git repository holding the project's conf/ and a few tracked files."""
    root = tmp_path / "checkout"
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf")
    (root / "manage").write_text("#!/bin/sh\n")
    (root / "manage").chmod(0o755)
    (root / PROJECT / "settings").mkdir(parents=True)
    (root / PROJECT / "settings" / "base.py").write_text("DEBUG = False\n")
    (root / "untracked.txt").write_text("not in the release\n")
    git(root, "init", "-q")
    git(root, "add", "conf", "manage", PROJECT)
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    return root


def test_the_archive_holds_the_tracked_files_and_what_deploy_map_makes(checkout, tmp_path):
    made = build(TARGET, tmp_path / "dist", root=checkout)
    with tarfile.open(made.path) as archive:
        names = set(archive.getnames())
        assert {"manage", f"{PROJECT}/settings/base.py", "conf/deploy.map"} <= names
        assert "untracked.txt" not in names
        environment = archive.extractfile(f"{PROJECT}/settings/environment.py").read().decode()
        assert 'ENVIRONMENT = "staging"' in environment
        run = archive.getmember("server/run")
        assert run.mode == 0o755
        assert f". /etc/{PROJECT}/env" in archive.extractfile(run).read().decode()
        # The nginx site is rendered at each deploy, never read back from a release.
        assert "server/nginx.conf" not in names
        logs = archive.getmember("logs")
        assert logs.issym() and logs.linkname == f"/var/log/{PROJECT}"
        assert archive.getmember("manage").mode == 0o755
    assert len(made.sha) == 40


def test_the_same_tree_gives_the_same_bytes(checkout, tmp_path):
    first = build(TARGET, tmp_path / "one", root=checkout)
    (checkout / "untracked.txt").write_text("changed, still untracked\n")
    second = build(TARGET, tmp_path / "two", root=checkout)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.digest == second.digest


def test_a_changed_tracked_file_changes_the_archive_and_marks_the_sha(checkout, tmp_path):
    first = build(TARGET, tmp_path / "one", root=checkout)
    (checkout / "manage").write_text("#!/bin/sh\necho changed\n")
    second = build(TARGET, tmp_path / "two", root=checkout)
    assert second.digest != first.digest
    assert second.sha == f"{first.sha}-dirty"


def test_a_bad_deploy_map_stops_the_build_before_any_archive(checkout, tmp_path):
    (checkout / "conf" / "deploy.map").write_text("conf/run.j2 => server/run 0755\nbroken line\n")
    with pytest.raises(DeployMapError, match="line 2"):
        build(TARGET, tmp_path / "dist", root=checkout)
    assert not (tmp_path / "dist").exists()
