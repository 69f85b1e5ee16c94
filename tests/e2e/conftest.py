"""The end-to-end story of the project, on the lab's throw-away servers (make e2e).

provisioning/test/run starts the lab (provisioning/test/lab) and runs these
tests on its controller side. They tell one story, in the order of STORY, each
building on what the previous ones left: the lab's network, provisioning,
deploys (good, broken on purpose, under load, rolled back), backups restored
to a point in time, HTTPS from the lab's ACME CA, secrets rotated under load,
a reboot, attacks, and the server checks shown to fail when what they check
is broken. Tests marked ``every_suite`` are the part CI also runs on the other
Debian release.

Deploys go from a clone of the project's last commit with a target of its own
(``e2e``), so the story never writes to the project itself.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .lab import ACME_ROOT, NAME, PROJECT_ROOT, WORK, Lab, Server

HERE = Path(__file__).resolve().parent
STORY = (
    "test_lab.py",
    "test_provisioning.py",
    "test_hardening.py",
    "test_deploy.py",
    "test_backups.py",
    "test_https.py",
    "test_secrets.py",
    "test_reboot.py",
    "test_attacks.py",
    "test_checks.py",
)
VENV_BIN = Path(sys.executable).parent
# The server that gets every role; db1 is a bare second host for the network
# tests, and the off-site host of the backups' copy (an account with sftp only).
WEB = "web1"
OFFSITE = "db1"
OFFSITE_USER = "offsite"
# The user deploys log in as (deploy_user_name's default).
DEPLOY = "deploy"
# The vault password of the story's secrets (provisioning/secrets).
VAULT_PASSWORD = WORK / "vault-password"
# What every playbook run of the story needs: the vault's password, and a
# folder for ssh's connection sockets.
ANSIBLE_ENV = {
    "ANSIBLE_SSH_CONTROL_PATH_DIR": f"{WORK}/ssh",
    "ANSIBLE_VAULT_PASSWORD_FILE": str(VAULT_PASSWORD),
}
# A broken service can hang for minutes: every playbook run is bounded.
PLAYBOOK_TIMEOUT = int(os.environ.get("E2E_PLAYBOOK_TIMEOUT", "900"))
RECAP = re.compile(r"^(\S+) +: ok=(\d+) +changed=(\d+) +unreachable=(\d+) +failed=(\d+)", re.M)


def pytest_configure(config):
    global CONFIG
    CONFIG = config


def ours(report) -> bool:
    return (CONFIG.rootpath / report.location[0]).parent == HERE


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.parent == HERE:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: STORY.index(item.path.name) if item.path.parent == HERE else -1)


# One line per scenario, with its result and its time (fixtures it started
# included), instead of pytest's progress letters; then what it reported.
SETUP_SECONDS = {}
REPORTS: list = []


@pytest.hookimpl(hookwrapper=True)
def pytest_report_teststatus(report):
    result = yield
    category, _, word = result.get_result()
    if ours(report):
        result.force_result((category, "", word))


def pytest_runtest_logreport(report):
    if report.when == "setup" and report.passed:
        SETUP_SECONDS[report.nodeid] = report.duration
        return
    if report.when == "teardown" and report.passed:
        return
    seconds = report.duration + SETUP_SECONDS.pop(report.nodeid, 0)
    outcome = report.outcome if report.when == "call" else f"{report.outcome} in {report.when}"
    name = report.nodeid.split("::")[-1].removeprefix("test_").replace("_", " ")
    reporter = CONFIG.pluginmanager.get_plugin("terminalreporter")
    reporter.write_line(f"e2e: {outcome:<7} {seconds:6.1f} s  {name}")
    # Written here, not during the test: pytest captures its output.
    while REPORTS:
        reporter.write_line(f"e2e:   {REPORTS.pop(0)}")


def report(line: str) -> None:
    """Print ``line`` after the scenario's own line, e.g. a figure the scenario measured."""
    REPORTS.append(line)


# lynis's hardening index of the web server: before provisioning, and after.
LYNIS: dict = {}


def lynis(lab: Lab, server: Server) -> tuple[int, set]:
    """(hardening index, the IDs of its suggestions) of ``lynis audit system`` on ``server``."""
    command = (
        "lynis audit system --quick --no-colors --report-file /root/lynis.dat > /dev/null"
        " && cat /root/lynis.dat"
    )
    data = lab.ssh(server, command).stdout
    index = int(re.search(r"^hardening_index=(\d+)$", data, re.M).group(1))
    return index, set(re.findall(r"^suggestion\[\]=([A-Z0-9-]+)\|", data, re.M))


def run(
    command, timeout: float, cwd=PROJECT_ROOT, check=True, **env
) -> subprocess.CompletedProcess:
    """Run ``command``; fail with the end of its output when it fails or takes too long."""
    environ = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **env}
    try:
        result = subprocess.run(  # noqa: S603 -- the project's own commands
            [str(part) for part in command],
            cwd=cwd,
            env=environ,
            # Nothing here reads input: a command that waits for it sees its end.
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace")[-3000:]
        pytest.fail(f"{command[0]} took more than {timeout} s; its output:\n{output}")
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, command))} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


@pytest.fixture(scope="session")
def lab() -> Lab:
    return Lab()


@pytest.fixture(scope="session")
def web(lab) -> Server:
    return lab[WEB]


@pytest.fixture(scope="session")
def db(lab) -> Server:
    """The bare second server: a host on the same network, e.g. an attacker's."""
    return lab["db1"]


@dataclass
class Provisioning:
    """One run of provision_all: its output, and the play recap of the web server."""

    output: str
    ok: int
    changed: int
    failed: int


def lab_vars(lab: Lab) -> Path:
    """A file of the variables provisioning needs in the lab, for --extra-vars=@FILE.

    Certificates come from the lab's ACME CA, whose own HTTPS certificate the
    server must trust to reach it. The backups' off-site copy goes over sftp to
    db1, known by its host key.
    """
    path = WORK / "lab-vars.json"
    offsite = lab[OFFSITE]
    host_key = lab.ssh(offsite, "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
    values = {
        "tls_acme_directory": lab.acme_directory,
        "tls_acme_ca_certificate": lab.acme_ca_certificate.read_text(),
        "backup_offsite_repository": offsite_repository(lab),
        "backup_offsite_known_hosts": " ".join([offsite.address, *host_key]),
    }
    path.write_text(json.dumps(values))
    return path


def offsite_repository(lab: Lab) -> str:
    """The restic repository of the off-site copy, on db1."""
    return f"sftp:{OFFSITE_USER}@{lab[OFFSITE].address}:/srv/{OFFSITE_USER}/{NAME}"


def let_in_offsite_copies(lab: Lab) -> None:
    """Make db1 the off-site host: an account that the web server's backup key may use.

    What an off-site host's owner does with the key provisioning shows; restrict:
    the key gets sftp, no terminal, no forwarding.
    """
    key = lab.ssh(lab[WEB], f"cat /etc/{NAME}-backup/offsite_ed25519.pub").stdout.strip()
    home = f"/srv/{OFFSITE_USER}"
    lab.ssh(
        lab[OFFSITE],
        f"id {OFFSITE_USER} >/dev/null 2>&1 || useradd --create-home --home-dir {home} "
        f"--shell /bin/sh {OFFSITE_USER}; "
        f"install -d -m 700 -o {OFFSITE_USER} -g {OFFSITE_USER} {home}/.ssh && "
        f"echo 'restrict {key}' > {home}/.ssh/authorized_keys && "
        f"chown {OFFSITE_USER}: {home}/.ssh/authorized_keys && "
        f"chmod 600 {home}/.ssh/authorized_keys",
    )


def provision(
    lab: Lab,
    log: str,
    extra_vars: dict | None = None,
    must_pass: bool = True,
    root: Path = PROJECT_ROOT,
) -> Provisioning:
    """Run provision_all, as a user would, on the web server only; its output goes to ``log``.

    ``extra_vars``: more variables, as --extra-vars JSON. ``must_pass=False``:
    a failed run is returned, not failed on. ``root``: the project to run it from.
    """
    inventory = lab.inventory / "story.ini"
    inventory.write_text("".join(f"[{group}]\n{WEB}\n" for group in ("web", "worker", "db")))
    command = [
        root / "provisioning" / "provision_all",
        f"--inventory={lab.inventory}",
        f"--limit={WEB}",
        f"--extra-vars=@{lab_vars(lab)}",
        *([f"--extra-vars={json.dumps(extra_vars)}"] if extra_vars else []),
    ]
    result = run(command, PLAYBOOK_TIMEOUT, check=False, **ANSIBLE_ENV)
    (WORK / log).write_text(result.stdout + result.stderr)
    recaps = {host: values for host, *values in RECAP.findall(result.stdout)}
    if must_pass and (result.returncode != 0 or WEB not in recaps):
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        pytest.fail(f"provision_all failed; its output: {WORK / log}\n{tail}")
    ok, changed, _, failed = map(int, recaps.get(WEB, (0, 0, 0, 1)))
    return Provisioning(result.stdout, ok, changed, failed)


@pytest.fixture(scope="session")
def provisioned(lab) -> Provisioning:
    """The web server, provisioned once from scratch with new secrets.

    Its vault sits beside the lab's inventory, where Ansible finds host_vars/,
    so the story never writes into the project's own provisioning/.
    """
    shutil.rmtree(lab.inventory / "host_vars", ignore_errors=True)
    VAULT_PASSWORD.unlink(missing_ok=True)
    secrets = [
        PROJECT_ROOT / "provisioning" / "secrets",
        "init",
        WEB,
        f"--inventory={lab.inventory}",
    ]
    run(secrets, 60, ANSIBLE_VAULT_PASSWORD_FILE=VAULT_PASSWORD)
    provisioned = provision(lab, "provision-1.log")
    let_in_offsite_copies(lab)
    return provisioned


def check_server(lab: Lab, server: Server, site: str | None = None) -> subprocess.CompletedProcess:
    """provisioning/test/check_server.py inside ``server``'s namespace; never fails by itself."""
    command = [
        sys.executable,
        PROJECT_ROOT / "provisioning" / "test" / "check_server.py",
        f"--server={server.address}",
        f"--ssh-key={lab.ssh_key}",
        f"--known-hosts={lab.known_hosts}",
        f"--app={NAME}",
        *([f"--site={site}", f"--ca-file={ACME_ROOT}"] if site else []),
    ]
    return lab.on(server, *map(str, command), check=False)


def check_lines(result: subprocess.CompletedProcess) -> dict:
    """{description: passed} of check_server's output."""
    lines = re.findall(r"^check: (ok  |FAIL) (.*?)(?: \| .*)?$", result.stdout, re.M)
    return {description: status == "ok  " for status, description in lines}


class Project:
    """A clone of the project's last commit, deployed to the lab's web server with ``fab``."""

    TARGET = "e2e"

    def __init__(self, root: Path, home: Path, lab: Lab, server: Server):
        self.root, self.home, self.lab, self.server = root, home, lab, server

    def git(self, *args: str) -> str:
        identity = {"GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@localhost"}
        identity |= {"GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@localhost"}
        return run(["git", *args], timeout=60, cwd=self.root, **identity).stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def fab_prefix(self, home: Path | None = None, host=None) -> list:
        """fab with the lab's key (and with ``host``: fab -H HOST), before the task."""
        # HOME: its ~/.ssh/known_hosts holds the lab's host keys, as after add-root.sh.
        return [
            "env",
            f"HOME={home or self.home}",
            VENV_BIN / "fab",
            f"--identity={self.lab.ssh_key}",
            *(["-H", host] if host else []),
        ]

    def fab_command(self, task: str, *args: str, home: Path | None = None, host=None) -> list:
        return [*self.fab_prefix(home, host), task, f"--target={self.TARGET}", *args]

    def fab(self, task: str, *args: str, check=True, home: Path | None = None, host=None):
        """fab TASK --target=e2e ARGS (with ``host``: fab -H HOST, as its login instead)."""
        return run(
            self.fab_command(task, *args, home=home, host=host),
            timeout=600,
            cwd=self.root,
            check=check,
        )


@pytest.fixture(scope="session")
def project(tmp_path_factory, lab, web, provisioned) -> Project:
    if run(["git", "rev-parse", "HEAD"], timeout=60, check=False).returncode:
        pytest.fail("make e2e deploys the project's last commit, and it has none: commit first")
    root = tmp_path_factory.mktemp("clone") / NAME
    run(["git", "clone", "--quiet", PROJECT_ROOT, root], timeout=120)
    # A clone holds no collections: they are a download cache, copied since the
    # lab has no network.
    collections = "provisioning/.collections"
    shutil.copytree(PROJECT_ROOT / collections, root / collections)
    fabfile = root / "fabfile.py"
    host = f"{DEPLOY}@{web.address}"
    fabfile.write_text(
        fabfile.read_text()
        + "\n\n# make e2e: production's settings, on the lab's web server.\n"
        + "from dataclasses import replace as _replace  # noqa: E402\n\n"
        + f"TARGETS[{Project.TARGET!r}] = _replace(\n"
        + f'    TARGETS["production"], name={Project.TARGET!r}, hosts=[{host!r}],'
        + f" server_names=[{web.name!r}],\n"
        # The tests ask /health/ through nginx from the controller side.
        + f"    health_allow=[{lab.controller!r}],\n)\n"
    )
    home = tmp_path_factory.mktemp("home")
    (home / ".ssh").mkdir(mode=0o700)
    shutil.copy(lab.known_hosts, home / ".ssh" / "known_hosts")
    deployed = Project(root, home, lab, web)
    deployed.commit("make e2e: a target on the lab's web server")
    return deployed
