"""The deploy steps on a server, through an invoke/Fabric connection ``c``.

Every step is a shell command run with ``c.run`` as the deploy user; the tests
run the same functions on this machine through invoke.Context. What needs root
(supervisor programs, the nginx site) goes through the server's deploy helper
with ``sudo``, which checks what it installs: see roles/deploy_user.
"""

import hashlib
import json
import re
import shlex
import time
from datetime import UTC, datetime, timedelta

from .build import PROJECT, render

q = shlex.quote


VENV_COMPLETE = ".complete"
# In a release that a rollback left: it is no rollback target any more, and the
# next deploy's prune removes it.
ROLLED_BACK = "ROLLED_BACK"
# In a release from its switch on: only a release that has served is a
# rollback candidate, never one a deploy started and did not finish.
SERVED = "SERVED"
# A release is prepared under this suffix and renamed when it is whole, so a
# deploy cut off half-way (a lost connection) leaves nothing that looks like one.
UNFINISHED = ".tmp"
# What release_name() makes; nothing else in releases/ is taken for a release.
RELEASE_NAME = re.compile(r"^\d{8}T\d{6}Z$")


class DeployError(Exception):
    """A deploy step failed; the message says which, and where its log is."""


def run(c, command, what, log=None, stdin=None):
    """Run ``command``; on failure raise DeployError naming ``what`` (and ``log``).

    ``stdin``: text the command reads, such as a file the deploy helper installs.
    """
    if stdin is not None:
        # Piped by the remote shell's own printf: invoke feeds an in_stream
        # one character per poll, seconds for a config file.
        command = f"printf %s {q(stdin)} | {command}"
    result = c.run(command, hide=True, warn=True)
    if not result.ok:
        where = f"; its log: {log}" if log else ""
        output = result.stderr or result.stdout
        if log and not output.strip():
            # The command wrote to its log: show how that ends.
            output = c.run(f"tail -n 8 {q(log)}", hide=True, warn=True).stdout
        detail = output.strip().splitlines()[-8:]
        raise DeployError(f"{what} failed{where}\n" + "\n".join(detail))
    return result.stdout


def as_root(target, *args):
    """The command running the deploy helper as root with ``args``."""
    return " ".join(["sudo", "-n", q(target.helper), *(q(arg) for arg in args)])


def refuse_root(c):
    """DeployError unless ``c`` logs in as a user other than root."""
    if run(c, "id -u", "finding the login user").strip() == "0":
        raise DeployError(
            "logged in as root: deploys log in as the deploy user that provisioning "
            "creates (deploy_user_name, default deploy), never as root. Set the target's "
            "hosts to deploy@HOST in fabfile.py"
        )


def check_environment(c, target):
    """DeployError unless the host runs ``target``'s settings environment.

    The host's env file (provisioning's app_environment) names it as
    DJANGO_ENV; the settings refuse a release built for another one.
    """
    show = 'printf %s "${DJANGO_ENV-}"'
    result = c.run(f". {q(target.env_file)} && {show}", hide=True, warn=True)
    if not result.ok:
        raise DeployError(
            f"cannot read the env file {target.env_file}: {result.stderr.strip()}. "
            "Provision the server with this project's provisioning/ first: it writes the "
            "file and lets the deploy user read it"
        )
    host = result.stdout.strip()
    if host != target.environment:
        raise DeployError(
            f"target {target.name} runs the settings environment {target.environment!r}, but "
            f"this host was provisioned for {host!r} (app_environment, DJANGO_ENV in "
            f"{target.env_file}). Make them the same: provision the host with app_environment: "
            f"{target.environment}, or change the target's environment in fabfile.py"
        )


def release_name(c, target, attempts=3):
    """A new release's name: the server's UTC time, sorting after every release there.

    The server's clock, not this machine's: a laptop whose clock is slow must
    not name a release older than the current one, which rollbacks and
    prunes would then take for an old one. Under the lock, so two deploys
    never pick one name; within the same second it waits for the next.
    """
    newest = ""
    for _ in range(attempts):
        name = run(c, "date -u +%Y%m%dT%H%M%SZ", "reading the server's clock").strip()
        newest = max(existing_names(c, target), default="")
        if name > newest:
            return name
        if parse_release(newest) - parse_release(name) > timedelta(seconds=2):
            raise DeployError(
                f"the server's clock says {name}, before its newest release {newest}: "
                "a release name must sort after every existing one. Set the server's "
                "clock right (timedatectl, chrony), then deploy again"
            )
        time.sleep(1)
    raise DeployError(
        f"no release name after {newest} in {attempts} s: is the server's clock stuck?"
    )


def parse_release(name):
    return datetime.strptime(name, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def existing_names(c, target):
    """Every release name in use on the server, finished or not."""
    out = c.run(f"ls -1 {q(target.root)}/releases", hide=True, warn=True).stdout
    names = {name.removesuffix(".tar.gz").removesuffix(UNFINISHED) for name in out.split()}
    return sorted(name for name in names if RELEASE_NAME.match(name))


# Releases.


def releases(c, target):
    """The release names on the server, oldest first."""
    out = c.run(f"ls -1 {q(target.root)}/releases", hide=True, warn=True).stdout
    return sorted(name for name in out.split() if RELEASE_NAME.match(name))


def rolled_back(c, target):
    """The releases a rollback left (see ROLLED_BACK)."""
    out = c.run(
        f"cd {q(target.root)}/releases && ls -1 -- */{ROLLED_BACK}", hide=True, warn=True
    ).stdout
    return {line.split("/", 1)[0] for line in out.split()}


def served(c, target):
    """The releases that have served (see SERVED)."""
    out = c.run(f"cd {q(target.root)}/releases && ls -1 -- */{SERVED}", hide=True, warn=True).stdout
    return {line.split("/", 1)[0] for line in out.split()}


def adopt_releases(c, target):
    """Mark the releases up to the current one as served, on a server that has no marks yet.

    Deploys before the SERVED mark removed every release that failed, so each
    one they kept up to the current one has served, as has every release a
    rollback went back from.
    """
    active = current(c, target)
    if active is None or served(c, target):
        return
    left = rolled_back(c, target)
    paths = [
        q(f"{target.release_path(name)}/{SERVED}")
        for name in releases(c, target)
        if name <= active or name in left
    ]
    run(c, f"touch {' '.join(paths)}", "marking the releases that served")


def mark_rolled_back(c, target, release):
    run(c, f"touch {q(target.release_path(release))}/{ROLLED_BACK}", "marking the release")


def current(c, target):
    """The release ``current`` points at, or None."""
    out = c.run(f"readlink {q(target.root)}/current", hide=True, warn=True).stdout.strip()
    return out.rsplit("/", 1)[-1] or None


def version(c, target, release):
    out = c.run(f"cat {q(target.release_path(release))}/VERSION", hide=True, warn=True)
    return out.stdout.strip()


def make_folders(c, target):
    """Make the folders of releases and virtualenvs in the deploy user's root, if missing."""
    root = q(target.root)
    run(c, f"mkdir -p {root}/releases {root}/venvs", "making the releases' folders")


def unpack(c, target, archive, path, release, sha):
    """Unpack ``archive`` into the new folder ``path`` and write its VERSION.

    The release belongs to the deploy user and the app user only reads it.
    The app server's socket lives in the app's runtime folder; run/ links to
    it, so nginx finds it through ``current``.
    """
    run(
        c,
        f"mkdir {q(path)} && tar -xzf {q(archive)} -C {q(path)} && rm -f {q(archive)}",
        "unpacking the release",
    )
    # Stamped by the server's clock, as the release's name is.
    run(
        c,
        f'echo {q(sha)} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > {q(path)}/VERSION && '
        f"mkdir {q(path)}/run && "
        f"ln -s {q(socket_path(target, release))} {q(path)}/run/gunicorn.sock",
        "writing VERSION",
    )


def socket_path(target, release):
    """Where ``release``'s app server listens, as conf/supervisor.conf.j2 says."""
    return f"{target.runtime_dir}/{release}.sock"


def copy_release(c, target, source, release):
    """Make ``release`` a copy of ``source`` that runs on its own socket; name it when whole.

    Hard links: a finished release is never written to, so the copy costs
    neither the time nor the space of its files. Its VERSION stays that of
    ``source``: the same build.
    """
    path = target.release_path(release) + UNFINISHED
    run(
        c,
        f"cp -al -- {q(target.release_path(source))} {q(path)} && "
        f"rm -f -- {q(path)}/{ROLLED_BACK} {q(path)}/{SERVED} && "
        f"ln -sfn -- {q(socket_path(target, release))} {q(path)}/run/gunicorn.sock",
        f"copying release {source}",
    )
    finish(c, target, release)


def finish(c, target, release):
    """Give the prepared release its name: from now on it is one."""
    path = target.release_path(release)
    run(c, f"mv -T {q(path + UNFINISHED)} {q(path)}", "naming the release")


def remove(c, target, release):
    """Delete a release that never served, failed serving or a restart replaced; its upload."""
    path = target.release_path(release)
    c.run(f"rm -rf {q(path)} {q(path + UNFINISHED)} {q(path)}.tar.gz", hide=True, warn=True)


def virtualenv(c, target, path):
    """Link the release to a virtualenv for its requirements, building it when new.

    Virtualenvs are keyed by the requirements file and the server's Python
    version, so a deploy that changes neither reuses the last one.
    """
    requirements = run(c, f"cat {q(path)}/{q(target.requirements)}", "reading requirements")
    python = run(c, "python3 -c 'import sys; print(sys.version)'", "finding python3")
    key = hashlib.sha256((requirements + python).encode()).hexdigest()[:16]
    venv = f"{target.root}/venvs/{key}"
    # Built where it will stay (scripts name their interpreter by absolute
    # path, so it cannot be moved); the marker written last says it is whole.
    if not c.run(f"test -f {q(venv)}/{VENV_COMPLETE}", hide=True, warn=True).ok:
        log = log_file(target, "pip", key)
        run(
            c,
            f"rm -rf {q(venv)} && python3 -m venv {q(venv)} && "
            f"{q(venv)}/bin/pip install --quiet --require-hashes "
            f"-r {q(path)}/{q(target.requirements)} > {q(log)} 2>&1 && "
            f"touch {q(venv)}/{VENV_COMPLETE}",
            "installing the requirements",
            log,
        )
    run(c, f"ln -sfn ../../venvs/{key} {q(path)}/.venv", "linking the virtualenv")
    return key


def manage(c, target, path, command, what, release):
    """./manage COMMAND in the release with the env file, as the deploy user.

    The deploy user wrote the release and may read the env file; what the
    command writes (static files) stays the deploy user's, out of the app's reach.
    """
    log = log_file(target, "deploy", release)
    run(
        c,
        f"cd {q(path)} && server/run .venv/bin/python manage {command} >> {q(log)} 2>&1",
        what,
        log,
    )


def migration_plan(c, target, path):
    """(the pending migrations, why the serving release could not survive them or None).

    ./manage check_migrations (apps/migration_safety) reads the plan against
    the server's database; nothing is migrated by it.
    """
    output = run(
        c,
        f"cd {q(path)} && server/run .venv/bin/python manage check_migrations --json",
        "the migration check",
    )
    plan = json.loads(output.strip().splitlines()[-1])
    return plan["pending"], plan["refusal"]


def keep_static(c, target, previous, path, release):
    """Link ``previous``'s fingerprinted static files into the new release at ``path``.

    Its pages, served until the switch, then find their files (keep_static.py).
    """
    log = log_file(target, "deploy", release)
    old = f"{target.release_path(previous)}/staticfiles"
    run(
        c,
        f"python3 {q(path)}/deploy/keep_static.py {q(old)} {q(path)}/staticfiles >> {q(log)} 2>&1",
        "keeping the previous release's static files",
        log,
    )


def supervisor_conf(target, release):
    """The release's supervisor programs, rendered from this checkout's conf/."""
    return render(target, "conf/supervisor.conf.j2", release=release)


def program_file(release):
    return f"/etc/supervisor/conf.d/{PROJECT}-{release}.conf"


def web_program(release):
    """The supervisor name of the release's app server (see conf/supervisor.conf.j2)."""
    return f"{PROJECT}-{release}:{PROJECT}-web-{release}"


# The deploy's own steps log as the deploy user; the programs' logs are
# written by supervisord as root, in a folder only root writes.
DEPLOY_LOGS = ("deploy", "pip")


def log_file(target, kind, name):
    """KIND-NAME.log: deploy, pip (NAME a virtualenv) in the deploy user's logs; web, worker."""
    folder = target.deploy_log_dir if kind in DEPLOY_LOGS else target.log_dir
    return f"{folder}/{kind}-{name}.log"


def start(c, target, release):
    """Start the release's app server and worker under supervisor, beside any other."""
    run(
        c,
        as_root(target, "install-programs", release),
        "starting the release under supervisor",
        stdin=supervisor_conf(target, release),
    )


def stop(c, target, release):
    """Stop and forget the release's programs; in-flight requests are finished first."""
    run(c, as_root(target, "remove-programs", release), "stopping the release")


def stop_worker(c, target, release):
    """Stop ``release``'s Celery worker: its running tasks finish, it takes no new one."""
    run(c, as_root(target, "stop-worker", release), f"stopping the worker of {release}")


def start_worker(c, target, release):
    """Start ``release``'s Celery worker again (one that runs already is left as it is)."""
    run(c, as_root(target, "start-worker", release), f"starting the worker of {release}")


def stop_programs(c, target, release):
    """Stop ``release``'s app server and worker without removing them (during a restore)."""
    run(c, as_root(target, "stop-programs", release), f"stopping the programs of {release}")


def start_programs(c, target, release):
    """Start ``release``'s app server and worker again."""
    run(c, as_root(target, "start-programs", release), f"starting the programs of {release}")


def maintenance(c, target, state):
    """Maintenance mode "on" or "off" (every request but /health/ answers 503), or its "status"."""
    return run(c, as_root(target, "maintenance", state), f"maintenance {state}").strip()


def with_programs(c, target):
    """The releases that have supervisor programs on the server, running or not."""
    return run(c, as_root(target, "releases"), "listing the releases' programs").split()


def stop_others(c, target, keep):
    """Stop every release's programs but ``keep``'s, whatever left them: one release runs.

    A deploy cut off between starting its release and stopping the previous
    one leaves two running; the next switch ends that.
    """
    stopped = [release for release in with_programs(c, target) if release != keep]
    for release in stopped:
        stop(c, target, release)
    return stopped


def check_health(c, target, release, seconds=30, through_current=False):
    """Wait until the release's app server answers /health/ with 200.

    ``through_current``: ask through ``current``'s socket path, as nginx does.
    """
    path = f"{target.root}/current" if through_current else target.release_path(release)
    run(
        c,
        f"python3 {q(path)}/deploy/healthcheck.py {q(path)}/run/gunicorn.sock "
        f"{q(target.server_names[0])} {seconds} {q(web_program(release))} {q(target.helper)}",
        f"the health check of release {release}",
        log_file(target, "web", release),
    )


def switch(c, target, release):
    """Point ``current`` at ``release`` in one rename: no moment without it.

    The release is marked as served first: from the rename on it is.
    """
    run(
        c,
        f"cd {q(target.root)} && rm -f releases/{release}/{ROLLED_BACK} && "
        f"touch releases/{release}/{SERVED} && "
        f"ln -sfn releases/{release} current.tmp && mv -T current.tmp current",
        "switching current",
    )


def install_site(c, target):
    """Install the nginx site rendered from this checkout; nginx reloads if it changed.

    The helper checks it and keeps the previous site when nginx -t fails.
    """
    run(
        c,
        as_root(target, "install-site"),
        "installing the nginx site",
        stdin=render(target, "conf/nginx.conf.j2"),
    )


LOG_OF_RELEASE = re.compile(r"^deploy-(\d{8}T\d{6}Z)\.log$")


def prune(c, target):
    """Keep the newest ``keep_releases`` releases that served, their virtualenvs and logs.

    The current release always stays; releases a rollback left, and any that
    never served (a deploy cut off before its switch), go.
    """
    active = current(c, target)
    names = releases(c, target)
    left = rolled_back(c, target) - {active}
    candidates = [name for name in names if name in served(c, target) and name not in left]
    kept = sorted(set(candidates[-target.keep_releases :]) | ({active} if active else set()))
    for old in names:
        if old in kept:
            continue
        if c.run(f"test -f {q(program_file(old))}", hide=True, warn=True).ok:
            stop(c, target, old)
        run(c, f"rm -rf {q(target.release_path(old))}", f"removing release {old}")
    # What deploys cut off half-way left behind; the lock keeps any other deploy away.
    folder = q(f"{target.root}/releases")
    run(c, f"rm -rf {folder}/*{UNFINISHED} {folder}/*.tar.gz", "removing unfinished releases")
    used = c.run(f"readlink {q(target.root)}/releases/*/.venv", hide=True, warn=True).stdout
    keep = {line.rsplit("/", 1)[-1] for line in used.split()}
    for venv in c.run(f"ls -1 {q(target.root)}/venvs", hide=True, warn=True).stdout.split():
        if venv not in keep:
            run(
                c,
                f"rm -rf {q(target.root)}/venvs/{q(venv)} {q(log_file(target, 'pip', venv))}",
                f"removing virtualenv {venv}",
            )
    # Logs go with their release; a failed release's logs stay until it is
    # older than every kept release, so its failure can still be read.
    if not kept:
        return
    logs = target.deploy_log_dir
    for name in c.run(f"ls -1 {q(logs)}", hide=True, warn=True).stdout.split():
        match = LOG_OF_RELEASE.match(name)
        if match and match.group(1) < kept[0]:
            run(c, f"rm -f {q(logs)}/{name}", f"removing log {name}")
    # The programs' logs are root's: the helper removes those of older releases.
    run(c, as_root(target, "prune-logs", kept[0]), "removing the programs' old logs")
