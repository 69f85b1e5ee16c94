"""Hold a target's deploy lock for exactly as long as the deploy's SSH connection lives.

Runs on the server as the deploy user, with the system's python3 (standard
library only). fab sends this file's text (``python3 -c TEXT ARGS``), so the
server always runs the deploying checkout's version of it:

    python3 -c TEXT ROOT HELPER LOG HOLDER

HELPER is the command that runs the deploy helper as root (sudo -n PATH).

1. Takes an exclusive flock on ROOT/deploy.lock without waiting. When another
   process has it, prints who (from ROOT/deploy.holder) and exits 75.
2. Writes HOLDER and its own pid to ROOT/deploy.holder, then waits for a line
   on its standard input, which is the deploy's SSH channel.
3. ``release``: the deploy ended well; the holder file goes, exit 0.
   ``clean``: the deploy failed; the end of its input without a line: the
   connection died (fab killed, the network lost) in the middle of the
   deploy. Then it waits for the steps that deploy had started (each holds
   ROOT/deploy.steps shared) and puts the server back to one serving
   release: the programs of every release but the current one stop, the
   current one's worker runs, and what the deploy had half made goes. What
   it did is appended to LOG, and the lock is free once it exits.

A flock belongs to the open file, so it ends with this process however that
ends: a lock can no longer outlive the deploy that took it.
"""

import errno
import fcntl
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

LOCKED_BY_ANOTHER = 75
RELEASE = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
# A release is marked so at its switch: only such a release ever served.
SERVED = "SERVED"
# What prepare() leaves while a release is made: a folder, and its upload.
UNFINISHED = (".tmp", ".tar.gz")
# How long a command the deploy sent may take to start and take its share of
# the steps lock (sshd forks it, flock starts).
STARTING_SECONDS = 2


def open_lock(path):
    """The lock file's descriptor; OSError(ELOOP) when an old symlink lock stands there."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


def holder_of(root):
    try:
        with open(f"{root}/deploy.holder", encoding="utf-8") as file:
            return file.read().strip() or "unknown"
    except OSError:
        return "unknown"


def helper(helper_command, *args):
    """Run the deploy helper as root (the deploy user's one sudo rule); its output."""
    result = subprocess.run(  # noqa: S603 -- the helper, with checked arguments
        [*shlex.split(helper_command), *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise RuntimeError(f"deploy helper {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def current_release(root):
    try:
        return os.path.basename(os.readlink(f"{root}/current")) or None
    except OSError:
        return None


def clean_up(root, helper_command, say):
    """After a deploy cut off: one release serving, nothing half-made left."""
    current = current_release(root)
    say(f"current release: {current or 'none'}")
    for release in helper(helper_command, "releases").split():
        if release != current:
            helper(helper_command, "remove-programs", release)
            say(f"stopped the programs of {release}")
    if current:
        # The deploy stops the serving worker while the next release starts.
        helper(helper_command, "start-worker", current)
        say(f"the worker of {current} runs")
    releases = f"{root}/releases"
    for name in sorted(os.listdir(releases)):
        path = f"{releases}/{name}"
        unfinished = name.endswith(UNFINISHED)
        # Named but never served: the cut-off deploy's release, before its switch.
        unserved = (
            RELEASE.match(name)
            and (current is None or name > current)
            and not os.path.exists(f"{path}/{SERVED}")
        )
        if unfinished or unserved:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            say(f"removed {name}")


def main(argv):
    root, helper_command, log, holder = argv[1:5]
    try:
        lock = open_lock(f"{root}/deploy.lock")
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        print(
            f"an older version's lock, {root}/deploy.lock -> {os.readlink(f'{root}/deploy.lock')}"
        )
        return LOCKED_BY_ANOTHER
    for attempt in range(2):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            # No holder file: the last holder is exiting, its lock a moment from free.
            if attempt or os.path.exists(f"{root}/deploy.holder"):
                print(holder_of(root))
                return LOCKED_BY_ANOTHER
            time.sleep(1)
    with open(f"{root}/deploy.holder.tmp", "w", encoding="utf-8") as file:
        file.write(f"{holder} (lock held by pid {os.getpid()})\n")
    os.replace(f"{root}/deploy.holder.tmp", f"{root}/deploy.holder")
    word = sys.stdin.readline().strip()
    if word != "release":
        with open(log, "a", encoding="utf-8") as out:

            def say(line):
                out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
                out.flush()

            how = "failed" if word == "clean" else "was cut off"
            say(f"the deploy of {holder} {how}; waiting for its steps to end")
            if word != "clean":
                # A command sent just before the connection dropped may still be
                # starting: by now it holds its share of the steps lock.
                time.sleep(STARTING_SECONDS)
            with open(f"{root}/deploy.steps", "a", encoding="utf-8") as steps:
                fcntl.flock(steps, fcntl.LOCK_EX)
                try:
                    clean_up(root, helper_command, say)
                except Exception as error:  # noqa: BLE001 -- logged; the next deploy cleans up
                    say(f"cleaning up failed: {error}")
    os.unlink(f"{root}/deploy.holder")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
