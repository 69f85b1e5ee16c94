"""The hardening role on the provisioned server, tried from outside as an attacker would.

The firewall drops what no variable opens, fail2ban bans an address that
keeps failing to log in, security updates install themselves, the clock is
kept, and lynis rates the server better than before provisioning.
"""

import socket
import time

import pytest

from .conftest import LYNIS, lynis, report

# Debian 12 and 13 ship different nftables and fail2ban: both are tried.
pytestmark = pytest.mark.every_suite

# A port nothing opens: a listener there is reached from loopback only.
CLOSED_PORT = 8099
MAXRETRY = 5  # hardening_fail2ban_maxretry's default
BANNED_WITHIN = 20


def reachable(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except OSError:
        return False
    return True


def test_the_firewall_drops_connections_to_ports_it_does_not_open(lab, web, provisioned):
    listener = f"python3 -m http.server {CLOSED_PORT} --bind 0.0.0.0"
    lab.ssh(web, f"systemd-run --unit=e2e-listener --property=RuntimeMaxSec=120 {listener}")
    try:
        connect = f"socket.create_connection(('127.0.0.1', {CLOSED_PORT}), 2)"
        probe = f'python3 -c "import socket; {connect}"'
        deadline = time.monotonic() + 10
        while lab.ssh(web, probe, check=False).returncode and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lab.ssh(web, probe, check=False).returncode == 0, "the listener never answered"
        assert not reachable(web.address, CLOSED_PORT)
        assert reachable(web.address, 22) and reachable(web.address, 80)
    finally:
        lab.ssh(web, "systemctl stop e2e-listener", check=False)


def test_fail2ban_bans_an_address_that_keeps_failing_to_log_in(lab, web, db, provisioned):
    # From db1, as a user that does not exist: each try is one failed login.
    attempt = [
        "ssh",
        *("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"),
        *("-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3"),
        f"e2e-intruder@{web.address}",
        "true",
    ]
    try:
        for _ in range(MAXRETRY + 1):
            lab.on(db, *attempt, check=False)
        deadline = time.monotonic() + BANNED_WITHIN
        while time.monotonic() < deadline:
            jail = lab.ssh(web, "fail2ban-client status sshd").stdout
            if db.address in jail:
                break
            time.sleep(0.5)
        assert db.address in jail, jail
        # Banned: sshd does not even answer db1 now, while the controller logs in.
        refused = lab.on(db, *attempt, check=False)
        assert "Permission denied" not in refused.stderr, refused.stderr
        assert lab.ssh(web, "true").returncode == 0
    finally:
        lab.ssh(web, "fail2ban-client unban --all", check=False)


def test_security_updates_install_themselves(lab, web, provisioned):
    periodic = lab.ssh(web, "apt-config dump APT::Periodic").stdout
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic, periodic
    assert 'APT::Periodic::Update-Package-Lists "1";' in periodic, periodic
    timers = lab.ssh(web, "systemctl is-enabled apt-daily.timer apt-daily-upgrade.timer").stdout
    assert timers.split() == ["enabled", "enabled"]
    assert lab.ssh(web, "unattended-upgrade --dry-run", check=False).returncode == 0


def test_the_clock_is_kept_where_it_may_be_set(lab, web, provisioned):
    assert lab.ssh(web, "systemctl is-enabled chrony").stdout.strip() == "enabled"
    if lab.ssh(web, "systemctl is-active chrony", check=False).stdout.strip() != "active":
        # The lab's servers may not set the clock (no CAP_SYS_TIME): systemd skips
        # chrony by its unit's condition, as on any container, and says so.
        shown = lab.ssh(web, "systemctl show chrony --property=ConditionResult").stdout
        assert shown.strip() == "ConditionResult=no", shown
        unit = lab.ssh(web, "systemctl cat chrony").stdout
        assert "ConditionCapability=CAP_SYS_TIME" in unit


@pytest.mark.usefixtures("provisioned")
def test_lynis_rates_the_provisioned_server_above_the_fresh_one(lab, web):
    after, suggestions = lynis(lab, web)
    LYNIS["after"] = after
    report(f"lynis hardening index: {LYNIS['before']} fresh, {after} provisioned")
    report(f"lynis suggestions left: {' '.join(sorted(suggestions))}")
    assert after > LYNIS["before"]
