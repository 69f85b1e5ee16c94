"""The lab's servers are like VPSes on one network: systemd, own addresses, own firewalls."""

import ipaddress
import json
import shlex
import socket
import subprocess
import sys

import pytest

from .lab import LAB

pytestmark = pytest.mark.every_suite

SUITES = {"bookworm": "12", "trixie": "13"}
PORT = 7000
# Accepts one connection on ADDRESS:PORT within 20 s and prints where it came from.
LISTENER = """
import socket, sys
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
server.settimeout(20)
print("listening", flush=True)
connection, peer = server.accept()
print(peer[0], flush=True)
"""


def listen(server, address):
    """A listener on ``address`` inside ``server``'s namespace, ready to accept."""
    process = subprocess.Popen(  # noqa: S603 -- the lab's own command
        [LAB, "exec", server.name, sys.executable, "-c", LISTENER, address, str(PORT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = process.stdout.readline()
    if ready != "listening\n":
        process.kill()
        pytest.fail(f"the listener on {server.name} did not start: {process.communicate()}")
    return process


def connect_from(lab, server, address, timeout=3):
    """Whether ``server`` can open a TCP connection to ``address``:PORT (over its own ssh)."""
    script = (
        "import socket, sys\n"
        f"try: socket.create_connection(({address!r}, {PORT}), {timeout}).close()\n"
        "except OSError as error: sys.exit(str(error))\n"
    )
    return lab.ssh(server, f"python3 -c {shlex.quote(script)}", check=False).returncode == 0


def accepted_from(listener):
    out, err = listener.communicate(timeout=30)
    assert listener.returncode == 0, err
    return out.split()[-1]


def test_servers_boot_debian_with_systemd_as_pid_1(lab, web, db):
    for server in (web, db):
        command = (
            "cat /proc/1/comm; systemctl is-system-running; . /etc/os-release; echo $VERSION_ID"
        )
        facts = lab.ssh(server, command).stdout
        assert facts.split() == ["systemd", "running", SUITES[lab.suite]], facts


def test_connections_between_servers_carry_their_true_source_address(lab, web, db):
    listener = listen(db, db.address)
    assert connect_from(lab, web, db.address)
    assert accepted_from(listener) == web.address


def test_each_server_has_its_own_loopback(lab, web, db):
    listener = listen(db, "127.0.0.1")
    try:
        assert not connect_from(lab, web, "127.0.0.1")
        assert connect_from(lab, db, "127.0.0.1")
    finally:
        listener.kill()
        listener.communicate()


def test_each_server_has_its_own_firewall(lab, web, db):
    rule = f"ip saddr {web.address} tcp dport {PORT} drop"
    chain = "'add chain inet lab input { type filter hook input priority 0; }'"
    lab.ssh(db, f"nft add table inet lab && nft {chain} && nft add rule inet lab input {rule}")
    try:
        listener = listen(db, db.address)
        assert not connect_from(lab, web, db.address, timeout=1)
        # The same port from another host passes: the rule is db1's, for web1 only.
        socket.create_connection((db.address, PORT), 3).close()
        assert accepted_from(listener) == lab.controller
        assert "drop" not in lab.ssh(web, "nft list ruleset").stdout
    finally:
        lab.ssh(db, "nft delete table inet lab", check=False)


def test_no_server_has_an_address_outside_the_loopback_range(lab, web, db):
    for server in (web, db):
        addresses = json.loads(lab.on(server, "ip", "-json", "address").stdout)
        for interface in addresses:
            for address in interface["addr_info"]:
                ip = ipaddress.ip_address(address["local"])
                assert ip.is_loopback or (ip.version == 6 and ip.is_link_local), (server, ip)
        routes = lab.on(server, "ip", "route", "show", "default").stdout
        assert routes.strip() == "", f"{server.name} has a default route: {routes}"
