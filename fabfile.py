"""Build, deploy and roll back releases: `fab --list` shows the tasks.

    fab deploy --target=staging          build, upload and serve a new release
    fab deploy --allow-breaking-migrations   the same, migrating behind maintenance mode
    fab rollback --target=staging        serve the previous release again
    fab releases --target=staging        list the releases, marking the current one
    fab restart --target=staging         restart the app and worker, e.g. on new secrets
    fab maintenance --on --target=staging   answer 503 with a page (--off: serve again)
    fab backup --target=staging          back up the database and the uploads now
    fab backups --target=staging         list the backups with age and size; exit 1 on a problem
    fab restore --at=2026-12-07T10:30:00Z --target=staging   the data as it was then
    fab restore --at=before-20261207T103000Z   the data before that release migrated

Targets are configured below. `fab -H deploy@host -i key TASK` runs a task on
that host instead of the target's hosts. Deploys log in as the deploy user
provisioning creates, never as root. The logic lives in the deploy package.
"""

from fabric import Connection, task
from invoke.exceptions import Exit
from paramiko import SSHException

from deploy import backups as backup_steps
from deploy import lock, remote, workflow
from deploy.build import BuildError
from deploy.build import build as build_archive
from deploy.hostkeys import host_key_problem, verify_host_keys
from deploy.remote import DeployError
from deploy.targets import Target

# Keep hosts and server_names in line with provisioning/hosts and its
# app_server_names (DJANGO_ALLOWED_HOSTS on the server).
TARGETS = {
    "production": Target(
        name="production",
        hosts=["deploy@example.com"],
        server_names=["example.com"],
        environment="deployment",
        requirements="requirements/deployment.txt",
        keep_releases=5,
    ),
    "staging": Target(
        name="staging",
        hosts=["deploy@staging.example.com"],
        server_names=["staging.example.com"],
        environment="staging",
        requirements="requirements/deployment.txt",
        keep_releases=3,
        # fab deploy --dirty may try uncommitted changes here.
        production=False,
    ),
}
BUILD_DIR = "dist"


def target_named(name):
    try:
        return TARGETS[name]
    except KeyError:
        raise Exit(f"no target {name!r}: choose one of {', '.join(TARGETS)}") from None


def servers(c, target):
    """The connection fab -H gave, or one per host of the target; known host keys only."""
    if isinstance(c, Connection):
        return [verify_host_keys(c)]
    return [verify_host_keys(Connection(host, config=c.config)) for host in target.hosts]


def each_server(c, target, action):
    for server in servers(c, target):
        try:
            action(server)
        except DeployError as failure:
            raise Exit(f"{server.host}: {failure}") from None
        except SSHException as failure:
            problem = host_key_problem(failure, server.host) or failure
            raise Exit(f"{server.host}: {problem}") from None


@task(help={"dirty": "build the uncommitted changes too (never for production)"})
def build(c, target="production", dirty=False):
    """Build the release archive for a target into dist/ (the commit + conf/deploy.map)."""
    try:
        made = build_archive(target_named(target), BUILD_DIR, dirty=dirty)
    except BuildError as refused:
        raise Exit(f"build refused: {refused}") from None
    print(f"{made.path}  {made.sha}  sha256:{made.digest}")
    return made


@task(
    help={
        "dirty": "deploy the uncommitted changes too (never to production)",
        "allow-breaking-migrations": "run migrations the serving release cannot survive, "
        "after a backup and behind maintenance mode",
    }
)
def deploy(c, target="production", dirty=False, allow_breaking_migrations=False):
    """Build and deploy a new release; the old one serves until the new one is healthy."""
    destination = target_named(target)
    made = build(c, target, dirty)
    each_server(
        c,
        destination,
        lambda server: workflow.deploy(
            server, destination, made, allow_breaking=allow_breaking_migrations
        ),
    )


@task
def rollback(c, target="production", release=None):
    """Serve the previous release again (or --release=NAME)."""
    destination = target_named(target)
    each_server(c, destination, lambda server: workflow.rollback(server, destination, release))


@task
def restart(c, target="production"):
    """Restart the app and worker with no failed request, e.g. to read a changed env file."""
    destination = target_named(target)
    each_server(c, destination, lambda server: workflow.restart(server, destination))


@task
def releases(c, target="production"):
    """List the releases on each server with their versions; * marks the current one."""
    destination = target_named(target)

    def show(server):
        active = remote.current(server, destination)
        served = remote.served(server, destination)
        print(f"{server.host}:")
        for name in remote.releases(server, destination):
            mark = "*" if name == active else " "
            # Only a release that served is a rollback target.
            note = "" if name in served else "  (never served)"
            print(f"  {mark} {name}  {remote.version(server, destination, name)}{note}")

    each_server(c, destination, show)


@task
def status(c, target="production"):
    """Show the current release, and the supervisor programs of every release on the server."""
    destination = target_named(target)

    def show(server):
        active = remote.current(server, destination)
        if active is None:
            print(f"{server.host}: no release is current yet (fab deploy makes one)")
            return
        print(f"{server.host}: current {active} ({remote.version(server, destination, active)})")
        # Only root may ask supervisor: the deploy helper lists the project's programs.
        server.run(remote.as_root(destination, "status"))

    each_server(c, destination, show)


@task(help={"on": "answer 503 with conf/maintenance.html", "off": "serve again"})
def maintenance(c, target="production", on=False, off=False):
    """Turn maintenance mode on or off (every request but /health/ gets 503), or show it."""
    if on and off:
        raise Exit("choose one of --on and --off")
    destination = target_named(target)
    state = "on" if on else "off" if off else "status"

    def switch(server):
        print(f"{server.host}: {remote.maintenance(server, destination, state)}")

    each_server(c, destination, switch)


@task
def unlock(c, target="production"):
    """Stop a deploy lock's holder that hangs; a deploy that ends or is cut off frees it itself."""
    destination = target_named(target)
    each_server(c, destination, lambda server: print(lock.break_lock(server, destination)))


@task
def backup(c, target="production"):
    """Back up the database (incremental) and the uploads now, beside the scheduled backups."""
    destination = target_named(target)
    each_server(
        c,
        destination,
        lambda server: print(f"{server.host}: {backup_steps.back_up(server, destination)}"),
    )


def print_each_server(c, target, step):
    """Run ``step`` (a step returning text) on each server; print its lines under the host."""

    def show(server):
        print(f"{server.host}:")
        for line in step(server, target).splitlines():
            print(f"  {line}")

    each_server(c, target, show)


@task
def check_backup(c, target="production"):
    """Restore the newest backup into a scratch database and run the project's checks on it."""
    print_each_server(c, target_named(target), backup_steps.check_backup)


@task
def fetch_backups(c, target="production"):
    """Replace the server's backup repositories by the off-site copy, to restore from it next."""
    print_each_server(c, target_named(target), backup_steps.fetch_offsite)


@task
def backups(c, target="production"):
    """List the backups and media snapshots with age and size, and each job's last result."""
    destination = target_named(target)
    found = []

    def show(server):
        data = backup_steps.listing(server, destination)
        print(f"{server.host} (server time {data['now'][:19]}Z):")
        for line in backup_steps.report(data):
            print(f"  {line}")
        found.extend(f"{server.host}: {problem}" for problem in backup_steps.problems(data))

    each_server(c, destination, show)
    if found:
        raise Exit("\n".join(found))


@task(
    help={
        "at": "a time with its zone, e.g. 2026-12-07T10:30:00Z; default: now (all committed data)",
        "check": "only say what the restore would start from",
    }
)
def restore(c, target="production", at="now", check=False):
    """Restore the database to a point in time and the uploads to the snapshot before it."""
    destination = target_named(target)

    def act(server):
        if check:
            print(f"{server.host}: {backup_steps.check_restore(server, destination, at)}")
        else:
            workflow.restore(server, destination, at)

    each_server(c, destination, act)
