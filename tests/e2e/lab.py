"""The lab's servers as the end-to-end tests and `make bench-deploy` see them.

provisioning/test/lab starts the servers and describes them in lab.json; this
reads that file and runs the lab's commands. Code using it runs on the lab's
controller side (``lab exec controller ...``), which reaches every server.
"""

import http.client
import json
import os
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.load import PinnedHTTPSConnection

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NAME = "{{ project_name }}"
WORK = Path(os.environ.get("E2E_WORK", f"/var/tmp/{NAME}-e2e"))  # noqa: S108 -- root's own folder
LAB = PROJECT_ROOT / "provisioning" / "test" / "lab"
# Longest a lab command may take: a reboot waits for shutdown and boot.
LAB_TIMEOUT = 300
# The root of the certificates the lab's ACME CA (Pebble) issues; new at every lab up.
ACME_ROOT = WORK / "acme" / "root.pem"


def tls_context() -> ssl.SSLContext:
    """Verifies certificates from the lab's ACME CA, and their names, as a browser would."""
    return ssl.create_default_context(cafile=ACME_ROOT)


@dataclass(frozen=True)
class Server:
    name: str
    address: str

    @property
    def ssh(self) -> str:
        """The SSH destination of its root user, as Fabric and ssh take it."""
        return f"root@{self.address}"

    def get(self, path: str, host: str | None = None, https=True) -> tuple[int, bytes, list]:
        """(status, body, header pairs) of GET ``path`` through its nginx.

        Over HTTPS, the certificate checked against the lab's ACME CA, for the
        server's name (its site's server_name) unless ``host``; ``https=False``:
        plain HTTP on port 80.
        """
        name = host or self.name
        connection = (
            PinnedHTTPSConnection(name, self.address, 443, context=tls_context(), timeout=10)
            if https
            else http.client.HTTPConnection(self.address, 80, timeout=10)
        )
        try:
            connection.request("GET", path, headers={"Host": name})
            response = connection.getresponse()
            return response.status, response.read(), response.getheaders()
        finally:
            connection.close()


def lab(*args: str, timeout: float = LAB_TIMEOUT, check: bool = True):
    """Run ``provisioning/test/lab ARGS``; fail with its output if it fails."""
    result = subprocess.run(  # noqa: S603 -- the project's own script
        [str(LAB), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


class Lab:
    """What lab.json says: the servers, and the key and known hosts to reach them with."""

    def __init__(self, work: Path = WORK):
        path = work / "lab.json"
        if not path.exists():
            raise RuntimeError(f"no lab is up ({path} is missing): start one with {LAB} up")
        described = json.loads(path.read_text())
        self.suite = described["suite"]
        self.ssh_key = described["ssh_key"]
        self.known_hosts = described["known_hosts"]
        self.controller = described["controller"]["address"]
        # The ACME CA: its directory URL, and the certificate of its own HTTPS.
        self.acme_directory = described["acme"]["directory"]
        self.acme_ca_certificate = Path(described["acme"]["ca_certificate"])
        self.servers = {
            name: Server(name, server["address"]) for name, server in described["servers"].items()
        }
        self.inventory = work / "inventory"

    def __getitem__(self, name: str) -> Server:
        return self.servers[name]

    def on(self, server: Server, *command: str, timeout: float = LAB_TIMEOUT, check: bool = True):
        """Run ``command`` on this machine inside ``server``'s network namespace."""
        return lab("exec", server.name, *command, timeout=timeout, check=check)

    def ssh(self, server: Server, command: str, check: bool = True):
        """Run a shell ``command`` on ``server`` as root; its completed process."""
        return lab("ssh", server.name, command, check=check)

    def ssh_command(
        self, user: str, server: Server, command: str, *options: str, key: bool = True
    ) -> list[str]:
        """The ssh command line that runs ``command`` on ``server`` as ``user`` (see ssh_as)."""
        identity = ["-i", str(self.ssh_key), "-o", "IdentitiesOnly=yes"] if key else []
        return [
            "ssh",
            *identity,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            *(part for option in options for part in ("-o", option)),
            f"{user}@{server.address}",
            command,
        ]

    def ssh_as(
        self, user: str, server: Server, command: str, *options: str, key: bool = True
    ) -> subprocess.CompletedProcess:
        """Run a shell ``command`` on ``server`` as ``user`` over SSH from here, never failing.

        ``key``: log in with the lab's key; ``options``: more ``-o`` options for ssh.
        """
        return subprocess.run(  # noqa: S603 -- ssh with the lab's own files
            self.ssh_command(user, server, command, *options, key=key),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def reboot(self, server: Server) -> str:
        """Power ``server`` off through systemd and boot it again; what the lab said."""
        return lab("reboot", server.name).stderr
