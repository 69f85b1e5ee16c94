"""The release archive: tracked files plus what conf/deploy.map makes, reproducible to the byte."""

import gzip
import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .deploymap import parse

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "{{ project_name }}"


@dataclass(frozen=True)
class Build:
    path: Path
    sha: str  # the commit, with "-dirty" when tracked files differ from it
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


def build(target, out_dir, root=PROJECT_ROOT):
    """Write the release archive for ``target`` into ``out_dir``; return a Build.

    The same tracked files and target give the same bytes: entries are
    sorted, and times and owners come from the commit and deploy.map, never
    from the machine that builds.
    """
    entries = parse((root / "conf" / "deploy.map").read_text())
    sha = git("rev-parse", "HEAD", root=root).strip()
    if git("status", "--porcelain", "--untracked-files=no", root=root).strip():
        sha += "-dirty"
    mtime = int(git("log", "-1", "--format=%ct", root=root).strip())
    tracked = sorted(p for p in git("ls-files", "-z", root=root).split("\0") if p)
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
