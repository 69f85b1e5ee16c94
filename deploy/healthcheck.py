"""GET /health/ from a release's own app server, through its unix socket.

Runs on the server with the system's python3 (standard library only), as
the deploy user:
    python3 healthcheck.py SOCKET HOST SECONDS [PROGRAM HELPER]
exits 0 once /health/ answers 200, 1 when it has not within SECONDS, or as
soon as supervisor's PROGRAM exits (an app that cannot start fails fast).
HELPER: the deploy helper, which asks supervisor as root
(``sudo -n HELPER status PROGRAM``).
"""

import http.client
import socket
import subprocess
import sys
import time

# supervisor's states of a program that is not (or no longer) running.
DOWN = ("BACKOFF", "EXITED", "FATAL", "STOPPED")
# Seconds between two requests for /health/, and between two looks at supervisor.
POLL_EVERY = 0.1
STATUS_EVERY = 1.0


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def healthy(path, host):
    connection = UnixHTTPConnection(path, timeout=10)
    try:
        connection.request("GET", "/health/", headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except OSError as exc:
        return None, str(exc)
    finally:
        connection.close()


def program_status(program, helper):
    """supervisor's (state, pid) of ``program``: ("RUNNING", "123"), ("FATAL", None) ..."""
    command = ["sudo", "-n", helper, "status", program]
    # The deploy helper, with fixed arguments.
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603,S607
    fields = result.stdout.replace(",", " ").split()
    state = fields[1] if len(fields) > 1 else None
    pid = fields[3] if state == "RUNNING" and len(fields) > 3 else None
    return state, pid


def main():
    path, host, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    program, helper = sys.argv[4:6] if len(sys.argv) > 5 else (None, None)
    deadline = time.monotonic() + seconds
    first_pid = None
    next_status = 0.0
    while True:
        status, body = healthy(path, host)
        if status == 200:
            return 0
        # supervisorctl is a Python program of its own, slow to start on a
        # busy server: asked once a second, while /health/ is asked often.
        if program and time.monotonic() >= next_status:
            next_status = time.monotonic() + STATUS_EVERY
            # An app that cannot start exits, and supervisor restarts it: a
            # new pid or a down state means failure now, not at the deadline.
            state, pid = program_status(program, helper)
            first_pid = first_pid or pid
            if state in DOWN or (pid and pid != first_pid):
                print(f"the app server {program} exited while starting ({state})", file=sys.stderr)
                return 1
        if time.monotonic() > deadline:
            print(f"/health/ via {path}: {status or 'no answer'}: {body[:500]}", file=sys.stderr)
            return 1
        time.sleep(POLL_EVERY)


if __name__ == "__main__":
    sys.exit(main())
