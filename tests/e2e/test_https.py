"""HTTPS with certificates from the lab's ACME CA (Pebble), obtained by provisioning with certbot.

Provisioning asked the CA for the web server's certificate through the real
certbot webroot flow; here it is checked as visitors see it, renewed under
load, kept through a deploy and a rollback, and scanned with testssl.sh.
"""

import json
import socket
import ssl
import time

import pytest

from .conftest import PROJECT_ROOT, WORK, provision, report, run
from .lab import ACME_ROOT, tls_context
from .test_deploy import Load, served_version

# testssl.sh 3.2 or later, which rates the server (Debian 13's where this machine's is older).
TESTSSL = PROJECT_ROOT / "provisioning" / "test" / "testssl"
# testssl.sh's severities, mildest first; from MEDIUM up a finding fails the scan.
SEVERITIES = ["OK", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
# Findings about the test CA's certificates, not about the server: Pebble puts
# neither a CRL nor an OCSP URL in them, where Let's Encrypt's name a CRL.
THE_TEST_CAS = {"cert_revocation"}
YEAR = 31536000
# The attacks testssl.sh tries (its "vulnerabilities" section).
VULNERABILITIES = {
    "heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
    "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN",
    "LOGJAM", "BEAST", "LUCKY13", "RC4",
}  # fmt: skip


def certificate(web) -> dict:
    """The certificate nginx shows for the server's name, checked against the CA's root."""
    with (
        socket.create_connection((web.address, 443), timeout=10) as plain,
        tls_context().wrap_socket(plain, server_hostname=web.name) as connection,
    ):
        return connection.getpeercert()


def header(headers: list, name: str) -> list:
    return [value for key, value in headers if key.lower() == name]


@pytest.mark.every_suite
def test_the_site_serves_https_with_a_certificate_from_the_acme_ca(lab, web, project):
    # curl checks the chain against the CA's root and the name, and speaks HTTP/2.
    result = run(
        ["curl", "-sS", "--cacert", ACME_ROOT, "--resolve", f"{web.name}:443:{web.address}",
         "-o", "/dev/null", "-w", "%{http_code} %{http_version}", f"https://{web.name}/health/"],
        60,
    )  # fmt: skip
    assert result.stdout == "200 2", result.stdout + result.stderr
    issuer = dict(pair for part in certificate(web)["issuer"] for pair in part)
    assert issuer["commonName"].startswith("Pebble Intermediate CA"), issuer
    # Plain HTTP: a permanent redirect to HTTPS, and the CA's challenges.
    status, _, headers = web.get("/health/?a=1", https=False)
    assert (status, header(headers, "location")) == (301, [f"https://{web.name}/health/?a=1"])
    assert web.get("/.well-known/acme-challenge/none", https=False)[0] == 404
    # HSTS for a day to begin with, not preloaded; cookies only over HTTPS.
    _, _, headers = web.get("/admin/login/")
    assert header(headers, "strict-transport-security") == ["max-age=86400"]
    cookies = header(headers, "set-cookie")
    assert cookies and all("; Secure" in cookie for cookie in cookies), cookies


def test_a_forced_renewal_under_load_fails_no_request(lab, web, project):
    before = certificate(web)["serialNumber"]
    with Load(web) as load:
        lab.ssh(web, "certbot renew --force-renewal --no-random-sleep-on-renew --quiet")
    assert load.report["requests"] > 50, load.report
    assert load.report["failed"] == 0, load.report
    # The deploy hook reloaded nginx: the renewed certificate is the one shown, once
    # the reload (a signal nginx's master acts on after systemctl returns) is done.
    deadline = time.monotonic() + 15
    while certificate(web)["serialNumber"] == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert certificate(web)["serialNumber"] != before
    report(f"renewed under load: {load.report['requests']} requests over HTTPS, none failed")


def test_a_deploy_and_a_rollback_keep_https(lab, web, project):
    serial = certificate(web)["serialNumber"]
    version = served_version(web)
    project.fab("deploy")
    assert certificate(web)["serialNumber"] == serial
    assert web.get("/health/")[0] == 200
    project.fab("rollback")
    assert certificate(web)["serialNumber"] == serial
    assert served_version(web) == version
    assert web.get("/health/", https=False)[0] == 301


def test_hsts_is_raised_by_a_variable_once_https_works(lab, web, project):
    # As the README says to: provision with the longer time, then restart the app.
    raised = provision(lab, "provision-hsts.log", extra_vars={"app_hsts_seconds": YEAR})
    assert raised.changed > 0
    project.fab("restart")
    _, _, headers = web.get("/health/")
    assert header(headers, "strict-transport-security") == [f"max-age={YEAR}"]


def test_testssl_finds_nothing_of_medium_severity_or_above(lab, web, project):
    findings_file = WORK / "testssl.json"
    findings_file.unlink(missing_ok=True)
    command = [
        TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--add-ca", ACME_ROOT,
        "--ip", web.address, "--jsonfile", findings_file, f"https://{web.name}/",
    ]  # fmt: skip
    # Its exit status counts checks it could not finish too: the findings decide.
    output = run(command, 900, check=False)
    (WORK / "testssl.log").write_text(output.stdout + output.stderr)
    findings = json.loads(findings_file.read_text())
    by_id = {finding["id"]: finding for finding in findings}
    offered = [
        name
        for name in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")
        if by_id.get(name, {}).get("finding", "").startswith("offered")
    ]
    assert offered == ["TLS1_2", "TLS1_3"], offered
    serious = {
        finding["id"]: f"{finding['id']} ({finding['severity']}): {finding['finding']}"
        for finding in findings
        if finding["severity"] in SEVERITIES[SEVERITIES.index("MEDIUM") :]
    }
    ciphers = [
        suite
        for name in ("supportedciphers_TLSv1_3", "supportedciphers_TLSv1_2")
        for suite in by_id[name]["finding"].split()
    ]
    grade = by_id["overall_grade"]["finding"]
    caps = [f["finding"] for f in findings if f["id"].startswith("grade_cap_reason")]
    report(f"testssl.sh: protocols {', '.join(offered)}; cipher suites {', '.join(ciphers)}")
    vulnerabilities = [f["id"] for f in findings if f["id"] in VULNERABILITIES]
    report(
        f"testssl.sh: findings of MEDIUM or above: {len(serious)}"
        f" ({', '.join(serious.values()) or 'none'})"
    )
    report(f"testssl.sh: rating {grade} ({'; '.join(caps) or 'nothing capped it'})")
    unfinished = [f"{f['id']}: {f['finding']}" for f in findings if f["severity"] == "WARN"]
    if unfinished:
        report(f"testssl.sh: checks it could not finish: {'; '.join(unfinished)}")
    # Its probes of session resumption fail here: a client that names the server resumes.
    assert resumes_sessions(web)
    assert set(serious) <= THE_TEST_CAS, "\n".join(serious.values())
    vulnerable = [
        by_id[name] for name in vulnerabilities if by_id[name]["severity"] not in ("OK", "INFO")
    ]
    assert not vulnerable, vulnerable
    report(f"testssl.sh: {len(vulnerabilities)} vulnerability checks, every one not vulnerable")


def resumes_sessions(web) -> bool:
    """Whether a second TLS 1.2 connection resumes the first one's session (by its ID)."""
    context = tls_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    session = None
    for _ in range(2):
        with (
            socket.create_connection((web.address, 443), timeout=10) as plain,
            context.wrap_socket(plain, server_hostname=web.name, session=session) as connection,
        ):
            reused, session = connection.session_reused, connection.session
    return reused


def test_behind_a_load_balancer_only_its_forwarded_headers_count(lab, web, db, project):
    # db1 plays the load balancer that terminates TLS in front of web1.
    proxied = provision(
        lab,
        "provision-proxy.log",
        extra_vars={"tls_mode": "proxy", "tls_trusted_proxies": [db.address]},
    )
    assert proxied.changed > 0

    def status(scheme: str, from_balancer: bool) -> str:
        """The status of a page asked over plain HTTP with X-Forwarded-Proto: ``scheme``."""
        command = [
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: {web.name}",
            "-H", f"X-Forwarded-Proto: {scheme}", f"http://{web.address}/api/articles/",
        ]  # fmt: skip
        # From db1's namespace, or from the controller side, where the tests run.
        return lab.on(db, *command).stdout if from_balancer else run(command, 60).stdout

    try:
        # What the balancer says counts: the request came over HTTPS, so no redirect.
        assert status("https", from_balancer=True) == "200"
        assert status("http", from_balancer=True) == "301"
        # Anybody else saying so is not believed: plain HTTP is redirected.
        assert status("https", from_balancer=False) == "301"
    finally:
        # Back to certificates from the lab's ACME CA, as the rest of the story expects.
        again = provision(lab, "provision-after-proxy.log")
    assert again.changed > 0
    assert web.get("/health/")[0] == 200
