"""SSH host keys: a deploy talks only to servers whose key is already known.

Fabric accepts any host key by default. A deploy uploads the code and runs
commands as root, so an unknown or changed key stops it instead, as ssh does.
"""

from pathlib import Path

from paramiko import BadHostKeyException, RejectPolicy, SSHException

KNOWN_HOSTS = "~/.ssh/known_hosts"


def verify_host_keys(connection, known_hosts=KNOWN_HOSTS):
    """Make ``connection`` refuse any server not in ``known_hosts`` with the same key."""
    path = Path(known_hosts).expanduser()
    if path.is_file():
        connection.client.load_host_keys(str(path))
    connection.client.set_missing_host_key_policy(RejectPolicy())
    return connection


def host_key_problem(error, host):
    """What to do about ``error`` when it is about the host's key; None otherwise."""
    if isinstance(error, BadHostKeyException):
        return (
            f"the SSH host key of {host} is not the one in {KNOWN_HOSTS}: the server was "
            "reinstalled, or this is not your server. Check it before you remove the old key "
            f"(ssh-keygen -R {host})"
        )
    if isinstance(error, SSHException) and "not found in known_hosts" in str(error):
        return (
            f"{host} is not in {KNOWN_HOSTS}: connect once with `ssh root@{host}` (add-root.sh "
            "does) to check and record its key, then run fab again"
        )
    return None
