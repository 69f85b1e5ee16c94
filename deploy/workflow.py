"""The order of the steps in remote.py: deploy and rollback, with zero downtime.

The new release starts beside the serving one and only becomes ``current``
once its own app server answers /health/. Any failure before the switch
removes it and leaves the old release serving untouched.
"""

import contextlib

from . import remote
from .remote import DeployError


def deploy(c, target, build, log=print):
    """Put ``build`` (a build.Build) on the server behind ``c`` and serve it."""
    remote.lock(c, target)
    try:
        return _deploy(c, target, build, log)
    finally:
        remote.unlock(c, target)


def prepare(c, target, build, log=print):
    """Upload and unpack a new release with its virtualenv, static files and migrations.

    Returns the release's name. On failure nothing of it is left on the server.
    """
    release = remote.release_name()
    path = target.release_path(release)
    upload = f"{path}.tar.gz"
    c.put(str(build.path), upload)
    log(f"uploaded {build.path.name} as release {release}")
    try:
        remote.unpack(c, target, upload, release, build.sha)
        key = remote.virtualenv(c, target, path)
        log(f"virtualenv {key}")
        remote.manage(c, target, path, "collectstatic --noinput", "collectstatic", release)
        remote.manage(c, target, path, "migrate --noinput", "the migrations", release)
        log("collectstatic and migrations done")
    except DeployError:
        remote.remove(c, target, release)
        raise
    return release


def _deploy(c, target, build, log):
    previous = remote.current(c, target)
    release = prepare(c, target, build, log)
    try:
        remote.start(c, target, release)
        remote.check_health(c, target, release)
        log("the new release answers /health/")
    except DeployError:
        # Nothing switched yet: take the new release away, the old one serves on.
        # The failure to report is the one above, not any in this cleanup.
        with contextlib.suppress(DeployError):
            remote.stop(c, target, release)
        remote.remove(c, target, release)
        raise
    remote.switch(c, target, release)
    log(f"current is now {release}")
    try:
        remote.install_site(c, target, target.release_path(release))
        remote.check_health(c, target, release, seconds=10, through_current=True)
    except DeployError as failure:
        if previous:
            _activate(c, target, previous, stop=release, log=log)
            # A release that failed once serving is no rollback candidate.
            remote.remove(c, target, release)
            raise DeployError(f"{failure}\nrolled back to {previous}") from failure
        raise
    if previous:
        remote.stop(c, target, previous)
    remote.prune(c, target)
    log(f"serving {release} ({build.sha})")
    return release


def _activate(c, target, release, stop=None, log=print):
    """Start ``release`` beside the current one, check it, switch to it, stop ``stop``."""
    remote.start(c, target, release)
    remote.check_health(c, target, release)
    remote.switch(c, target, release)
    log(f"current is now {release}")
    if stop:
        remote.stop(c, target, stop)


def previous_release(names, active):
    """The newest of ``names`` older than ``active``; DeployError when there is none."""
    older = [name for name in names if active and name < active]
    if not older:
        raise DeployError(f"no release older than {active} to roll back to")
    return older[-1]


def rollback(c, target, to=None, log=print):
    """Serve the release before the current one, or the one named ``to``."""
    remote.lock(c, target)
    try:
        names = remote.releases(c, target)
        active = remote.current(c, target)
        if to is None:
            to = previous_release(names, active)
        elif to not in names:
            raise DeployError(f"no release {to}; there are: {', '.join(names)}")
        if to == active:
            raise DeployError(f"{to} is already the current release")
        _activate(c, target, to, stop=active, log=log)
        log(f"serving {to} ({remote.version(c, target, to)}), was {active}")
        return to
    finally:
        remote.unlock(c, target)
