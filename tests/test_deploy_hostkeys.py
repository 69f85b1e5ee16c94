"""Deploys refuse servers whose SSH host key is unknown or changed."""

import base64

from fabric import Connection
from paramiko import BadHostKeyException, Ed25519Key, RejectPolicy, SSHException

from deploy.hostkeys import host_key_problem, verify_host_keys

# A throw-away public key, as a known_hosts line holds it.
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_known_hosts_are_loaded_and_unknown_ones_rejected(tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"deploy.example ssh-ed25519 {KEY}\n")
    connection = verify_host_keys(Connection("root@deploy.example"), known_hosts)
    assert "deploy.example" in connection.client.get_host_keys()
    assert isinstance(connection.client._policy, RejectPolicy)


def test_a_missing_known_hosts_file_still_rejects_every_host(tmp_path):
    connection = verify_host_keys(Connection("root@deploy.example"), tmp_path / "none")
    assert len(connection.client.get_host_keys()) == 0
    assert isinstance(connection.client._policy, RejectPolicy)


def test_host_key_problems_say_what_to_do():
    unknown = SSHException("Server '[deploy.example]:22' not found in known_hosts")
    assert "connect once with `ssh root@deploy.example`" in host_key_problem(
        unknown, "deploy.example"
    )
    key = Ed25519Key(data=base64.b64decode(KEY))
    changed = BadHostKeyException("deploy.example", key, key)
    assert "ssh-keygen -R deploy.example" in host_key_problem(changed, "deploy.example")
    assert host_key_problem(SSHException("Authentication failed."), "deploy.example") is None
