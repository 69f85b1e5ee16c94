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

Migrations run while the previous release serves, so those it could not
survive are refused (migration_guard). Let through on purpose, they run after
a backup and behind maintenance mode, with the previous worker stopped, and
the site serves again once the new release does. Every deploy that migrates
first marks a restore point, before-RELEASE, that fab restore --at can name.
"""

import contextlib
import time
from dataclasses import dataclass

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


def deploy(c, target, build, log=print, allow_breaking=False):
    """Put ``build`` (a build.Build) on the server behind ``c`` and serve it.

    ``allow_breaking``: let through migrations the serving release could not
    survive, run behind maintenance mode after a backup.
    """
    with locked(c, target) as steps:
        return _deploy(steps, target, build, log, allow_breaking)


@dataclass(frozen=True)
class MigrationGuard:
    """What a deploy does around its pending migrations."""

    refusal: str | None = None  # the deploy stops here, nothing migrated
    maintenance: bool = False  # a backup, then maintenance mode until the new release serves
    restore_point: bool = False  # before-RELEASE, marked just before migrating


def migration_guard(pending, refusal, serving, allow_breaking):
    """The MigrationGuard for ``pending`` migrations that the check refused (``refusal``) or not.

    Only a serving release can be broken by them; a first deploy has none.
    """
    breaking = bool(refusal) and serving
    if breaking and not allow_breaking:
        return MigrationGuard(
            refusal=f"the migration check refused the release, so nothing was migrated: "
            f"{refusal}\nOr deploy with --allow-breaking-migrations: a backup first, then "
            "the maintenance page until the new release serves."
        )
    return MigrationGuard(maintenance=breaking, restore_point=bool(pending))


@dataclass(frozen=True)
class Prepared:
    """A release prepare() made, and whether it left the site in maintenance mode."""

    release: str
    maintenance: bool = False


def prepare(c, target, build, log=print, allow_breaking=False):
    """Upload and unpack a new release with its virtualenv, static files and migrations.

    Returns a Prepared. On failure nothing of the release is left on the server.
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
        previous = remote.current(c, target)
        if previous:
            remote.keep_static(c, target, previous, path, release)
        # The previous release serves on through the migrations, and after
        # them if this one fails: they must leave it a schema it works with.
        guard = migration_guard(
            *remote.migration_plan(c, target, path), bool(previous), allow_breaking
        )
        if guard.refusal:
            raise DeployError(guard.refusal)
        if guard.maintenance:
            _maintenance_for_migrations(c, target, previous, log)
        with _kept_in_maintenance(guard.maintenance, release):
            if guard.restore_point:
                log(backups.mark(c, target, restore_point(release)))
            remote.manage(c, target, path, "migrate --noinput", "the migrations", release)
            log("collectstatic and migrations done")
            remote.finish(c, target, release)
    return Prepared(release, guard.maintenance)


def restore_point(release):
    """The name of the restore point a deploy of ``release`` marks before it migrates."""
    return f"before-{release}"


def _maintenance_for_migrations(c, target, previous, log):
    """Back up, then maintenance mode and the serving worker stopped, for breaking migrations."""
    log("the migrations would break the serving release: backing up, then maintenance mode")
    log(backups.back_up(c, target))
    remote.maintenance(c, target, "on")
    # Its tasks would fail on the new schema: they wait in the queue instead.
    remote.stop_worker(c, target, previous)
    log(f"maintenance on, the worker of {previous} stopped, for the migrations")


@contextlib.contextmanager
def _kept_in_maintenance(maintenance, release):
    """Say, on a DeployError in the block, that the site stays in maintenance mode and why."""
    try:
        yield
    except DeployError as failure:
        if not maintenance:
            raise
        raise DeployError(
            f"{failure}\nThe site stays in maintenance mode: the migrations may have left a "
            "schema the serving release cannot use, and its worker stays stopped. fab "
            f"restore --at={restore_point(release)} brings the data back to before them; "
            "or fix the cause and deploy again."
        ) from failure


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
def _tasks_handed_over(c, target, active, give_back=True):
    """Stop ``active``'s worker for the block; start it again when the block fails.

    Not when ``give_back`` is false: breaking migrations ran, its tasks would fail.
    """
    if active is None:
        yield
        return
    remote.stop_worker(c, target, active)
    if not give_back:
        yield
        return
    with _undone_on_failure(lambda: remote.start_worker(c, target, active)):
        yield


def _start_healthy(c, target, release):
    """Start ``release`` beside the current one; stop it again unless it answers /health/."""
    with _undone_on_failure(lambda: remote.stop(c, target, release)):
        remote.start(c, target, release)
        remote.check_health(c, target, release)


def _deploy(c, target, build, log, allow_breaking):
    remote.check_environment(c, target)
    previous = remote.current(c, target)
    prepared = prepare(c, target, build, log, allow_breaking)
    release, maintenance = prepared.release, prepared.maintenance
    with _kept_in_maintenance(maintenance, release):
        with (
            _undone_on_failure(lambda: remote.remove(c, target, release)),
            _tasks_handed_over(c, target, previous, give_back=not maintenance),
        ):
            _start_healthy(c, target, release)
            log(f"{release} started beside {previous or 'no release'} and answers /health/")
            # The site sends requests to whatever ``current`` is, so it can change
            # first; the helper keeps the old one when nginx refuses the new one.
            with _undone_on_failure(lambda: remote.stop(c, target, release)):
                remote.install_site(c, target)
        _switch_checked(c, target, release, previous, log, give_back=not maintenance)
    if maintenance:
        remote.maintenance(c, target, "off")
        log(f"maintenance off: {release} serves")
    _stop_others(c, target, release, log)
    remote.prune(c, target)
    log(f"serving {release} ({build.sha})")
    return release


def _switch_checked(c, target, release, previous, log, give_back=True):
    """Switch to the started ``release``; back to ``previous`` on any failure after the switch.

    ``previous`` still runs until the switch has held, so going back is one
    more rename; its worker starts again when ``give_back``. A release that
    failed once serving is no rollback candidate: it goes.
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
        if give_back:
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
