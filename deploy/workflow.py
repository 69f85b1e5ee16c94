"""The order of the steps in remote.py: deploy, rollback and restart, with zero downtime,
and restore from the backups (backups.py) behind maintenance mode.

The new release starts beside the serving one and only becomes ``current``
once its own app server answers /health/ and the nginx site is installed.
Any failure before the switch removes it and leaves the old release serving
untouched; any failure after it (Ctrl-C included) switches back to the
previous release, which still runs. Once a switch holds, the programs of
every other release stop: one release runs, whatever cut off an earlier deploy.

One Celery worker takes tasks at a time: the serving release's stops (its
running tasks finish) before the next release's starts, and starts again if
that release does not take over. So no old worker ever receives a task type
only the new release defines; tasks sent in between wait in the queue.
"""

import contextlib
import time

from . import backups, lock, remote
from .remote import DeployError


@contextlib.contextmanager
def locked(c, target):
    """Hold the deploy lock on ``target`` for the block; never as root.

    The block gets the connection whose every command holds the lock's steps
    (lock.Steps). A block that fails in any way has the holder put the server
    back to one serving release once its steps have ended, as a cut-off
    connection does.
    """
    remote.refuse_root(c)
    held = lock.take(c, target)
    ended = False
    try:
        steps = lock.Steps(c, target)
        remote.adopt_releases(steps, target)
        yield steps
        ended = True
    finally:
        lock.release(held, clean_up=not ended)


def deploy(c, target, build, log=print):
    """Put ``build`` (a build.Build) on the server behind ``c`` and serve it."""
    with locked(c, target) as steps:
        return _deploy(steps, target, build, log)


def prepare(c, target, build, log=print):
    """Upload and unpack a new release with its virtualenv, static files and migrations.

    Returns the release's name. On failure nothing of it is left on the server.
    """
    remote.make_folders(c, target)
    release = remote.release_name(c, target)
    path = target.release_path(release) + remote.UNFINISHED
    upload = f"{target.release_path(release)}.tar.gz"
    with _undone_on_failure(lambda: remote.remove(c, target, release)):
        c.put(str(build.path), upload)
        log(f"uploaded {build.path.name} as release {release}")
        remote.unpack(c, target, upload, path, release, build.sha)
        key = remote.virtualenv(c, target, path)
        log(f"virtualenv {key}")
        remote.manage(c, target, path, "collectstatic --noinput", "collectstatic", release)
        if previous := remote.current(c, target):
            remote.keep_static(c, target, previous, path, release)
            # The previous release serves on through the migrations, and after
            # them if this one fails: they must leave it a schema it works with.
            remote.check_migrations(c, target, path)
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


@contextlib.contextmanager
def _tasks_handed_over(c, target, active):
    """Stop ``active``'s worker for the block; start it again when the block fails."""
    if active is None:
        yield
        return
    remote.stop_worker(c, target, active)
    with _undone_on_failure(lambda: remote.start_worker(c, target, active)):
        yield


def _start_healthy(c, target, release):
    """Start ``release`` beside the current one; stop it again unless it answers /health/."""
    with _undone_on_failure(lambda: remote.stop(c, target, release)):
        remote.start(c, target, release)
        remote.check_health(c, target, release)


def _deploy(c, target, build, log):
    remote.check_environment(c, target)
    previous = remote.current(c, target)
    release = prepare(c, target, build, log)
    with (
        _undone_on_failure(lambda: remote.remove(c, target, release)),
        _tasks_handed_over(c, target, previous),
    ):
        _start_healthy(c, target, release)
        log(f"{release} started beside {previous or 'no release'} and answers /health/")
        # The site sends requests to whatever ``current`` is, so it can change
        # first; the helper keeps the old one when nginx refuses the new one.
        with _undone_on_failure(lambda: remote.stop(c, target, release)):
            remote.install_site(c, target)
    _switch_checked(c, target, release, previous, log)
    _stop_others(c, target, release, log)
    remote.prune(c, target)
    log(f"serving {release} ({build.sha})")
    return release


def _switch_checked(c, target, release, previous, log):
    """Switch to the started ``release``; back to ``previous`` on any failure after the switch.

    ``previous`` still runs until the switch has held, so going back is one
    more rename. A release that failed once serving is no rollback
    candidate: it goes.
    """
    remote.switch(c, target, release)
    log(f"current is now {release}")
    try:
        remote.check_health(c, target, release, seconds=10, through_current=True)
    except BaseException as failure:
        if not previous:
            raise
        try:
            remote.switch(c, target, previous)
            remote.check_health(c, target, previous, seconds=10, through_current=True)
        except DeployError as also:
            raise DeployError(
                f"{failure}\nswitching back to {previous} failed as well, so {release} "
                f"stays current: {also}"
            ) from failure
        log(f"current is {previous} again")
        remote.stop(c, target, release)
        remote.start_worker(c, target, previous)
        remote.remove(c, target, release)
        if isinstance(failure, DeployError):
            raise DeployError(f"{failure}\nrolled back to {previous}") from failure
        raise


def _stop_others(c, target, keep, log):
    for release in remote.stop_others(c, target, keep):
        log(f"stopped {release}")


def previous_release(names, active, left=(), served=None):
    """The newest of ``names`` older than ``active``, that served and is not in ``left``.

    ``left`` are the releases earlier rollbacks went back from; ``served``
    those marked at their switch (None: all of them). DeployError when there
    is no such release.
    """
    if active is None:
        raise DeployError("no release is current yet, so there is nothing to roll back")
    older = [
        name
        for name in names
        if name < active and name not in left and (served is None or name in served)
    ]
    if not older:
        raise DeployError(f"no release older than {active} that has served, to roll back to")
    return older[-1]


def rollback(c, target, to=None, log=print):
    """Serve the release before the current one, or the one named ``to``."""
    with locked(c, target) as steps:
        names = remote.releases(steps, target)
        active = remote.current(steps, target)
        if to is None:
            to = previous_release(
                names, active, remote.rolled_back(steps, target), remote.served(steps, target)
            )
        elif to not in names:
            raise DeployError(f"there is no release {to} on the server (fab releases lists them)")
        elif to not in remote.served(steps, target):
            raise DeployError(f"release {to} has never served, so it is no rollback target")
        if to == active:
            raise DeployError(f"{to} is already the current release")
        with _tasks_handed_over(steps, target, active):
            _start_healthy(steps, target, to)
        remote.switch(steps, target, to)
        log(f"current is now {to}")
        _stop_others(steps, target, to, log)
        if active and active > to:
            # Gone back from: the next rollback must not return to it.
            remote.mark_rolled_back(steps, target, active)
        log(f"serving {to} ({remote.version(steps, target, to)}), was {active}")
        return to


def restart(c, target, log=print):
    """Restart the current release's programs with zero downtime, e.g. on a changed env file.

    A copy of the current release starts beside it, reading the env file
    afresh, takes over once healthy, and the original goes: the copy is the
    same build, so rollbacks still go to the release before it.
    """
    with locked(c, target) as steps:
        remote.check_environment(steps, target)
        active = remote.current(steps, target)
        if active is None:
            raise DeployError("no release is current yet, so there is nothing to restart")
        release = remote.release_name(steps, target)
        with (
            _undone_on_failure(lambda: remote.remove(steps, target, release)),
            _tasks_handed_over(steps, target, active),
        ):
            remote.copy_release(steps, target, active, release)
            _start_healthy(steps, target, release)
        remote.switch(steps, target, release)
        log(f"current is now {release}, a fresh start of {active}")
        _stop_others(steps, target, release, log)
        remote.remove(steps, target, active)
        log(f"serving {release} ({remote.version(steps, target, release)})")
        return release


def restore(c, target, at, log=print):
    """Restore the database to ``at`` (or "now") and the media to the snapshot before it.

    Under the deploy lock, in maintenance mode (the site answers 503, /health/
    and ACME challenges still work): the current release's app server and
    worker stop, the backup program restores, they start again and must answer
    /health/ before maintenance ends. A restore that cannot be done (no backup
    before ``at``) is refused before anything changes; one that fails later
    leaves maintenance on, with the programs started again to look at.
    """
    with locked(c, target) as steps:
        active = remote.current(steps, target)
        if active is None:
            raise DeployError("no release is current: deploy one before restoring its data")
        log(backups.check_restore(steps, target, at))
        started = time.monotonic()
        remote.maintenance(steps, target, "on")
        log("maintenance on")
        try:
            remote.stop_programs(steps, target, active)
            log(f"stopped the programs of {active}")
            log(backups.restore(steps, target, at))
        except BaseException as failure:
            with contextlib.suppress(Exception):
                remote.start_programs(steps, target, active)
            if isinstance(failure, DeployError):
                raise DeployError(
                    f"{failure}\nthe site stays in maintenance mode: fix the cause and restore "
                    "again, or fab maintenance --off to serve the data as it is"
                ) from failure
            raise
        remote.start_programs(steps, target, active)
        remote.check_health(steps, target, active, through_current=True)
        remote.maintenance(steps, target, "off")
        seconds = time.monotonic() - started
        log(
            f"maintenance off: serving {active} on the data of {at}, {seconds:.1f} s after it began"
        )
        return seconds
