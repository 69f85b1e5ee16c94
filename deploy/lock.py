"""The deploy lock of a target: one deploy, rollback or restart at a time, on each server.

The lock is held on the server by a process of its own (lockholder.py) whose
input is the deploy's SSH channel: it lasts exactly as long as the deploy's
connection. A deploy that ends releases it; one cut off (fab killed, the
network lost) lets it go by itself, after the holder has put the server back
to one serving release. So there is no stale lock to break by hand.

Every command of a locked deploy holds ``deploy.steps`` shared (``Steps``), so
that the holder cleans up only once the steps the deploy had started are over:
a migration the lost connection left running is never cut short or overlapped.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import remote
from .remote import DeployError, log_file
from .targets import Target

q = shlex.quote

HOLDER_SCRIPT = Path(__file__).with_name("lockholder.py")
LOCKED_BY_ANOTHER = 75
# How long the holder may take to start and take the lock (one python3 start).
TAKE_SECONDS = 30


def lock_path(target: Target) -> str:
    return f"{target.root}/deploy.lock"


def holder_path(target: Target) -> str:
    return f"{target.root}/deploy.holder"


def steps_path(target: Target) -> str:
    return f"{target.root}/deploy.steps"


def holder_command(target: Target, holder: str) -> str:
    """The shell command that starts the lock's holder on the server."""
    return " ".join(
        q(part)
        for part in (
            "python3",
            "-c",
            HOLDER_SCRIPT.read_text(),
            target.root,
            remote.as_root(target),
            log_file(target, "deploy", "lock"),
            holder,
        )
    )


def in_steps(target: Target, command: str) -> str:
    """``command`` holding the steps lock shared, as every command of a locked deploy does."""
    return f"flock --shared {q(steps_path(target))} sh -c {q(command)}"


class Steps:
    """The connection ``c``, each of whose commands holds the steps lock shared.

    Everything but ``run`` is the connection's own (``put``, ``host`` ...).
    """

    def __init__(self, c: Any, target: Target) -> None:
        self._c = c
        self._target = target

    def run(self, command: str, **kwargs: Any) -> Any:
        return self._c.run(in_steps(self._target, command), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._c, name)


@dataclass
class Lock:
    """A lock taken: the running holder, and the pipe that tells it the deploy is over."""

    promise: Any
    release_pipe: int


def take(c: Any, target: Target) -> Lock:
    """Take the deploy lock on ``target`` or raise DeployError naming its holder."""
    if not c.run(f"test -d {q(target.root)}", hide=True, warn=True).ok:
        raise DeployError(
            f"there is no {target.root} on the server: provision it first "
            "(provisioning/provision_all), or fix the target's root in fabfile.py"
        )
    token = uuid.uuid4().hex[:12]
    since = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
    holder = f"{getpass.getuser()}@{socket.gethostname()} since {since} [{token}]"
    readable, writable = os.pipe()
    promise = c.run(
        holder_command(target, holder),
        asynchronous=True,
        hide=True,
        warn=True,
        in_stream=os.fdopen(readable, "rb", buffering=0),
    )
    deadline = time.monotonic() + TAKE_SECONDS
    while time.monotonic() < deadline:
        if promise.runner.process_is_finished:
            os.close(writable)
            result = promise.join()
            if result.exited == LOCKED_BY_ANOTHER:
                owner = result.stdout.strip() or "unknown"
                raise DeployError(
                    f"another deploy holds the lock on {target.root}: {owner}. It is freed "
                    "when that deploy ends or its connection does; a holder that hangs is "
                    f"stopped with: fab unlock --target={target.name}"
                )
            raise DeployError(f"taking the deploy lock failed: {result.stderr.strip()}")
        shown = c.run(f"cat {q(holder_path(target))}", hide=True, warn=True).stdout
        if f"[{token}]" in shown:
            return Lock(promise, writable)
        time.sleep(0.05)
    os.close(writable)
    raise DeployError(f"the deploy lock's holder did not start within {TAKE_SECONDS} s")


def release(lock: Lock, clean_up: bool = False) -> None:
    """Tell the holder the deploy is over, and wait for it to free the lock.

    ``clean_up``: the deploy failed, so the holder first puts the server back to
    one serving release, as it does when the connection is lost.
    """
    try:
        os.write(lock.release_pipe, b"clean\n" if clean_up else b"release\n")
    finally:
        os.close(lock.release_pipe)
    lock.promise.join()


def break_lock(c: Any, target: Target) -> str:
    """Stop a holder that hangs (or remove an older version's lock); what was done."""
    pid = c.run(
        f"sed -n 's/.*(lock held by pid \\([0-9]*\\))$/\\1/p' {q(holder_path(target))}",
        hide=True,
        warn=True,
    ).stdout.strip()
    done = []
    if pid and c.run(f"kill {q(pid)}", hide=True, warn=True).ok:
        done.append(f"stopped the lock's holder, pid {pid}")
    if c.run(f"test -L {q(lock_path(target))}", hide=True, warn=True).ok:
        c.run(f"rm -f {q(lock_path(target))}", hide=True)
        done.append("removed an older version's lock")
    c.run(f"rm -f {q(holder_path(target))}", hide=True, warn=True)
    return "; ".join(done) or "no deploy holds the lock"
