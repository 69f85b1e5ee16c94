"""provision_all on a fresh server: every service runs under systemd, answers and refuses."""

import pytest

from .conftest import LYNIS, check_lines, check_server, lynis, provision, report

pytestmark = pytest.mark.every_suite

SERVICES = ("postgresql", "redis-server", "rabbitmq-server", "supervisor", "nginx")


def test_lynis_rates_the_fresh_server(lab, web):
    # From the lab's own package repository; lynis changes nothing it rates.
    lab.ssh(web, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q lynis > /dev/null")
    LYNIS["before"], _ = lynis(lab, web)
    report(f"lynis hardening index of the fresh server: {LYNIS['before']}")


def test_provision_all_sets_up_a_fresh_server(provisioned):
    assert provisioned.changed > 0 and provisioned.failed == 0


def test_every_service_answers_the_app_and_refuses_others(lab, web, provisioned):
    result = check_server(lab, web)
    print(result.stdout)
    checks = check_lines(result)
    assert checks and all(checks.values()), result.stdout + result.stderr
    assert result.returncode == 0


def test_services_are_started_by_systemd_and_enabled_at_boot(lab, web, provisioned):
    services = " ".join(SERVICES)
    states = lab.ssh(web, f"systemctl is-enabled {services}; systemctl is-active {services}")
    assert states.stdout.split() == ["enabled"] * len(SERVICES) + ["active"] * len(SERVICES)
    assert lab.ssh(web, "systemctl --failed --no-legend").stdout.strip() == ""
    # RabbitMQ's epmd comes from systemd's socket unit, moved to loopback by a drop-in.
    listening = lab.ssh(web, "systemctl show epmd.socket --property=Listen").stdout
    assert listening.strip() == "Listen=127.0.0.1:4369 (Stream)", listening


def test_a_second_run_changes_nothing(lab, provisioned):
    again = provision(lab, "provision-2.log")
    assert (again.changed, again.failed) == (0, 0), again.output[-3000:]
