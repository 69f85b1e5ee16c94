"""The order of the steps in remote.py: deploy, rollback and restart, with zero downtime.

The new release starts beside the serving one and only becomes ``current``
once its own app server answers /health/ and the nginx site is installed.
Any failure before the switch removes it and leaves the old release serving
untouched; a failure after it switches back to the previous release.
"""

import contextlib

from . import remote
from .remote import DeployError


@contextlib.contextmanager
def locked(c, target):
    """Hold the deploy lock on ``target`` for the block; never as root."""
    remote.refuse_root(c)
    remote.lock(c, target)
    try:
        yield
    finally:
        remote.unlock(c, target)


def deploy(c, target, build, log=print):
    """Put ``build`` (a build.Build) on the server behind ``c`` and serve it."""
    with locked(c, target):
        return _deploy(c, target, build, log)


def prepare(c, target, build, log=print):
    """Upload and unpack a new release with its virtualenv, static files and migrations.

    Returns the release's name. On failure nothing of it is left on the server.
    """
    release = remote.release_name()
    path = target.release_path(release) + remote.UNFINISHED
    upload = f"{target.release_path(release)}.tar.gz"
    remote.make_folders(c, target)
    with _undone_on_failure(lambda: remote.remove(c, target, release)):
        c.put(str(build.path), upload)
        log(f"uploaded {build.path.name} as release {release}")
        remote.unpack(c, target, upload, path, release, build.sha)
        key = remote.virtualenv(c, target, path)
        log(f"virtualenv {key}")
        remote.manage(c, target, path, "collectstatic --noinput", "collectstatic", release)
        remote.manage(c, target, path, "migrate --noinput", "the migrations", release)
        log("collectstatic and migrations done")
        remote.finish(c, target, release)
    return release


@contextlib.contextmanager
def _undone_on_failure(undo):
    """Call ``undo`` when the block fails in any way, then let the failure through.

    Any way: Ctrl-C half-way must not leave half a release behind either.
    """
    try:
        yield
    except BaseException:
        # The failure to report is the one that got here, not any in this cleanup.
        with contextlib.suppress(Exception):
            undo()
        raise


def _start_healthy(c, target, release):
    """Start ``release`` beside the current one; stop it again unless it answers /health/."""
    with _undone_on_failure(lambda: remote.stop(c, target, release)):
        remote.start(c, target, release)
        remote.check_health(c, target, release)


def _deploy(c, target, build, log):
    remote.check_environment(c, target)
    previous = remote.current(c, target)
    release = prepare(c, target, build, log)
    with _undone_on_failure(lambda: remote.remove(c, target, release)):
        _start_healthy(c, target, release)
        log("the new release answers /health/")
        # The site sends requests to whatever ``current`` is, so it can change
        # first; the helper keeps the old one when nginx refuses the new one.
        with _undone_on_failure(lambda: remote.stop(c, target, release)):
            remote.install_site(c, target)
    remote.switch(c, target, release)
    log(f"current is now {release}")
    try:
        remote.check_health(c, target, release, seconds=10, through_current=True)
    except DeployError as failure:
        if not previous:
            raise
        try:
            _activate(c, target, previous, stop=release, log=log)
        except DeployError as also:
            raise DeployError(
                f"{failure}\nrolling back to {previous} failed as well, so {release} stays "
                f"current: {also}"
            ) from failure
        # A release that failed once serving is no rollback candidate.
        remote.remove(c, target, release)
        raise DeployError(f"{failure}\nrolled back to {previous}") from failure
    if previous:
        remote.stop(c, target, previous)
    remote.prune(c, target)
    log(f"serving {release} ({build.sha})")
    return release


def _activate(c, target, release, stop=None, log=print):
    """Start ``release`` beside the current one, check it, switch to it, stop ``stop``.

    The nginx site stays as the last deploy installed it: it serves whatever
    release ``current`` is.
    """
    _start_healthy(c, target, release)
    remote.switch(c, target, release)
    log(f"current is now {release}")
    if stop:
        remote.stop(c, target, stop)


def previous_release(names, active, left=()):
    """The newest of ``names`` older than ``active`` and not in ``left``.

    ``left`` are the releases earlier rollbacks went back from. DeployError
    when there is no such release.
    """
    if active is None:
        raise DeployError("no release is current yet, so there is nothing to roll back")
    older = [name for name in names if name < active and name not in left]
    if not older:
        raise DeployError(f"no release older than {active} to roll back to")
    return older[-1]


def rollback(c, target, to=None, log=print):
    """Serve the release before the current one, or the one named ``to``."""
    with locked(c, target):
        names = remote.releases(c, target)
        active = remote.current(c, target)
        if to is None:
            to = previous_release(names, active, remote.rolled_back(c, target))
        elif to not in names:
            raise DeployError(f"there is no release {to} on the server (fab releases lists them)")
        if to == active:
            raise DeployError(f"{to} is already the current release")
        _activate(c, target, to, stop=active, log=log)
        if active and active > to:
            # Gone back from: the next rollback must not return to it.
            remote.mark_rolled_back(c, target, active)
        log(f"serving {to} ({remote.version(c, target, to)}), was {active}")
        return to


def restart(c, target, log=print):
    """Restart the current release's programs with zero downtime, e.g. on a changed env file.

    A copy of the current release starts beside it, reading the env file
    afresh, takes over once healthy, and the original goes: the copy is the
    same build, so rollbacks still go to the release before it.
    """
    with locked(c, target):
        remote.check_environment(c, target)
        active = remote.current(c, target)
        if active is None:
            raise DeployError("no release is current yet, so there is nothing to restart")
        release = remote.release_name()
        if release <= active:
            raise DeployError(
                f"the new name {release} does not sort after the current release {active}: "
                "is this machine's clock behind? Try again once it is past that time"
            )
        with _undone_on_failure(lambda: remote.remove(c, target, release)):
            remote.copy_release(c, target, active, release)
            _start_healthy(c, target, release)
        remote.switch(c, target, release)
        log(f"current is now {release}, a fresh start of {active}")
        remote.stop(c, target, active)
        remote.remove(c, target, active)
        log(f"serving {release} ({remote.version(c, target, release)})")
        return release
