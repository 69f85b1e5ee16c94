"""The release archive: tracked files plus what conf/deploy.map makes, reproducible to the byte."""

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .deploymap import parse

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "{{ project_name }}"


class BuildError(Exception):
    """The checkout cannot be built as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Build:
    path: Path
    sha: str  # the commit, with "-dirty" when the working tree differs from it
    digest: str  # sha256 of the archive


def git(*args, root=PROJECT_ROOT):
    command = [shutil.which("git") or "git", *args]
    # Fixed git subcommands, no shell.
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)  # noqa: S603
    done.check_returncode()
    return done.stdout


def context(target):
    """What conf/ templates see: the target, its environment, the project and paths."""
    return {
        "target": target.name,
        "environment": target.environment,
        "project": PROJECT,
        "root": target.root,
        "user": target.user,
        "env_file": target.env_file,
        "log_dir": target.log_dir,
        "runtime_dir": target.runtime_dir,
        "media_root": target.media_root,
        "server_names": target.server_names,
        "health_allow": target.health_allow,
        **target.context,
    }


def templates(loader=None):
    """The Jinja2 environment conf/ templates render in: strict, and no HTML escaping."""
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 -- config files, not HTML
    )


def render(target, source: str, root: Path = PROJECT_ROOT, **extra) -> str:
    """Render the conf/ template ``source`` of this checkout for ``target``.

    What the server runs is always rendered here, from the operator's own
    files, never from anything read back from a server.
    """
    loader = jinja2.FileSystemLoader(root)
    return templates(loader).get_template(source).render(context(target), **extra)


def produce(entries, target, root):
    """(dest, bytes or link target, entry) for each deploy.map entry."""
    for entry in entries:
        if entry.action == "link":
            yield entry.dest, entry.source, entry
        elif entry.action == "copy":
            yield entry.dest, (root / entry.source).read_bytes(), entry
        else:
            yield entry.dest, render(target, entry.source, root).encode(), entry


def changes(root: Path = PROJECT_ROOT) -> list[str]:
    """The working tree's differences from the commit, untracked files included (git status)."""
    return [line for line in git("status", "--porcelain", root=root).splitlines() if line]


def check_dirty_allowed(target, changed: list[str], dirty: bool) -> None:
    """BuildError unless a build with ``changed`` files was asked for, and not for production.

    A release is what a commit holds: an edit never committed, or a new
    migration never added, would otherwise go live unseen.
    """
    shown = "\n  ".join(changed[:10]) + ("\n  ..." if len(changed) > 10 else "")
    if not dirty:
        raise BuildError(
            f"the checkout has changes that are not committed:\n  {shown}\n"
            "Commit them (or git stash them) and deploy again; to try them on a "
            "non-production target, deploy with --dirty"
        )
    if target.production:
        raise BuildError(
            f"target {target.name} is production, which only gets committed builds, and the "
            f"checkout has changes:\n  {shown}\nCommit them and deploy again"
        )


def missing_migrations(root: Path = PROJECT_ROOT) -> str:
    """What ``makemigrations --check`` finds missing in the checkout; "" when nothing is.

    Run on development settings with an in-memory database and no services:
    it compares the models with the migration files only.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith("_URL") and not key.startswith("DJANGO_")
    }
    env.update(DJANGO_ENV="development", DATABASE_URL="sqlite://:memory:")
    done = subprocess.run(  # noqa: S603 -- this checkout's manage, fixed arguments
        [sys.executable, str(root / "manage"), "makemigrations", "--check", "--dry-run"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return ""
    return (done.stdout + done.stderr).strip() or f"exit status {done.returncode}"


def build(target, out_dir, root=PROJECT_ROOT, dirty=False):
    """Write the release archive for ``target`` into ``out_dir``; return a Build.

    The same commit and target give the same bytes: entries are sorted, and
    times and owners come from the commit and deploy.map, never from the
    machine that builds. A checkout with changes is refused unless ``dirty``
    (never for a production target), and so is one whose models lack a
    migration.
    """
    entries = parse((root / "conf" / "deploy.map").read_text())
    sha = git("rev-parse", "HEAD", root=root).strip()
    changed = changes(root)
    if changed:
        check_dirty_allowed(target, changed, dirty)
        sha += "-dirty"
    mtime = int(git("log", "-1", "--format=%ct", root=root).strip())
    # A dirty build ships the working tree as it is: new files that are not
    # ignored too, so that it runs what the checkout runs.
    listed = (
        ("ls-files", "-z", "--cached", "--others", "--exclude-standard")
        if dirty
        else (
            "ls-files",
            "-z",
        )
    )
    tracked = sorted(p for p in git(*listed, root=root).split("\0") if p)
    if missing := missing_migrations(root):
        raise BuildError(
            f"the models have changes no migration holds:\n{missing}\n"
            "Make the migration (./manage makemigrations), commit it and deploy again"
        )
    produced = {dest: (content, entry) for dest, content, entry in produce(entries, target, root)}

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(set(tracked) | set(produced)):
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if name in produced:
                content, entry = produced[name]
                info.uname, info.gname, info.mode = entry.owner, entry.group, entry.mode
            else:
                path = root / name
                if path.is_symlink():
                    content = str(path.readlink())
                elif not path.exists():
                    continue  # deleted in the working tree
                else:
                    content = path.read_bytes()
                    info.mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            if isinstance(content, str):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, content, 0o777
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{PROJECT}-{target.name}.tar.gz"
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(buffer.getvalue())
    # A temporary file of its own, then a rename: a build running at the same
    # time (two deploys) never sees half an archive.
    with tempfile.NamedTemporaryFile(dir=out_dir, prefix=f".{path.name}.", delete=False) as raw:
        raw.write(packed.getvalue())
    Path(raw.name).replace(path)
    digest = hashlib.sha256(packed.getvalue()).hexdigest()
    return Build(path, sha, digest)
