"""fab build: the release archive, from a git checkout of the project."""

import shutil
import subprocess
import tarfile
from dataclasses import replace

import pytest

from deploy.build import PROJECT, PROJECT_ROOT, BuildError, build, missing_migrations
from deploy.deploymap import DeployMapError
from deploy.targets import Target

TARGET = Target(
    name="staging",
    hosts=["deploy@host"],
    server_names=["shop.example"],
    environment="staging",
    root="/srv/shop",
    production=False,
)
PRODUCTION = replace(TARGET, name="production", environment="deployment", production=True)
# What ./manage makemigrations --check --dry-run says when a model changed.
MISSING = """\
#!/usr/bin/env python3
print("Migrations for 'articles':\\n  articles/migrations/0003_article_rating.py")
raise SystemExit(1)
"""


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def commit(root, message):
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)


@pytest.fixture
def checkout(tmp_path):
    """A git repository holding the project's conf/ and a few tracked files."""
    root = tmp_path / "checkout"
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf")
    # A manage whose makemigrations --check finds nothing missing.
    (root / "manage").write_text("#!/usr/bin/env python3\n")
    (root / "manage").chmod(0o755)
    (root / PROJECT / "settings").mkdir(parents=True)
    (root / PROJECT / "settings" / "base.py").write_text("DEBUG = False\n")
    (root / ".gitignore").write_text("ignored.txt\n")
    (root / "ignored.txt").write_text("not in the release\n")
    git(root, "init", "-q")
    commit(root, "start")
    return root


def test_the_archive_holds_the_tracked_files_and_what_deploy_map_makes(checkout, tmp_path):
    made = build(TARGET, tmp_path / "dist", root=checkout)
    with tarfile.open(made.path) as archive:
        names = set(archive.getnames())
        assert {"manage", f"{PROJECT}/settings/base.py", "conf/deploy.map"} <= names
        assert "ignored.txt" not in names
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


def test_the_same_commit_gives_the_same_bytes(checkout, tmp_path):
    first = build(TARGET, tmp_path / "one", root=checkout)
    (checkout / "ignored.txt").write_text("changed, still ignored\n")
    second = build(TARGET, tmp_path / "two", root=checkout)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.digest == second.digest


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (lambda root: (root / "manage").write_text("# edited\n"), "M manage"),
        (lambda root: (root / "new.py").write_text("NEW = 1\n"), "?? new.py"),
        (lambda root: (root / "manage").unlink(), "D manage"),
    ],
    ids=["edited", "untracked", "deleted"],
)
def test_a_checkout_with_changes_is_refused_naming_them(checkout, tmp_path, change, shown):
    change(checkout)
    with pytest.raises(BuildError) as refused:
        build(TARGET, tmp_path / "dist", root=checkout)
    message = str(refused.value)
    assert "the checkout has changes that are not committed" in message
    assert shown in message
    assert "deploy with --dirty" in message
    assert not (tmp_path / "dist").exists()


def test_a_dirty_build_ships_the_working_tree_and_says_so(checkout, tmp_path):
    first = build(TARGET, tmp_path / "one", root=checkout)
    (checkout / "manage").write_text("#!/usr/bin/env python3\n# edited\n")
    (checkout / "new.py").write_text("NEW = 1\n")
    second = build(TARGET, tmp_path / "two", root=checkout, dirty=True)
    assert second.sha == f"{first.sha}-dirty"
    with tarfile.open(second.path) as archive:
        assert archive.extractfile("new.py").read() == b"NEW = 1\n"
        assert archive.extractfile("manage").read().endswith(b"# edited\n")
        assert "ignored.txt" not in archive.getnames()


def test_production_gets_no_dirty_build(checkout, tmp_path):
    (checkout / "new.py").write_text("NEW = 1\n")
    with pytest.raises(BuildError, match="target production is production, which only gets"):
        build(PRODUCTION, tmp_path / "dist", root=checkout, dirty=True)
    # --dirty on a clean checkout is a plain build.
    (checkout / "new.py").unlink()
    clean = build(PRODUCTION, tmp_path / "dist", root=checkout, dirty=True)
    assert not clean.sha.endswith("-dirty")


def test_a_model_change_without_its_migration_is_refused(checkout, tmp_path):
    (checkout / "manage").write_text(MISSING)
    commit(checkout, "a model change, its migration forgotten")
    with pytest.raises(BuildError) as refused:
        build(TARGET, tmp_path / "dist", root=checkout)
    assert "the models have changes no migration holds" in str(refused.value)
    assert "articles/migrations/0003_article_rating.py" in str(refused.value)
    assert "./manage makemigrations" in str(refused.value)
    assert not (tmp_path / "dist").exists()


def test_the_projects_models_and_migrations_agree_and_a_change_is_found(tmp_path):
    # The real ./manage makemigrations --check, on a copy of the project's code.
    assert missing_migrations(PROJECT_ROOT) == ""
    copy = tmp_path / "project"
    untracked = shutil.ignore_patterns("local.py", "__pycache__")
    shutil.copytree(PROJECT_ROOT / PROJECT, copy / PROJECT, ignore=untracked)
    shutil.copy(PROJECT_ROOT / "manage", copy / "manage")
    models = copy / PROJECT / "apps" / "articles" / "models.py"
    text = models.read_text()
    models.write_text(text + "\n\nclass Rating(models.Model):\n    stars = models.IntegerField()\n")
    found = missing_migrations(copy)
    assert "Migrations for 'articles'" in found
    assert "Create model Rating" in found


def test_a_bad_deploy_map_stops_the_build_before_any_archive(checkout, tmp_path):
    (checkout / "conf" / "deploy.map").write_text("conf/run.j2 => server/run 0755\nbroken line\n")
    commit(checkout, "a broken map")
    with pytest.raises(DeployMapError, match="line 2"):
        build(TARGET, tmp_path / "dist", root=checkout)
    assert not (tmp_path / "dist").exists()
