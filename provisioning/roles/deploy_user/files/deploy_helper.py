#!/usr/bin/python3 -I
"""The deploy user's only way to act as root: install a release's programs and the site.

sudoers lets the deploy user run this program, and nothing else, as root
(``sudo -n /usr/local/lib/<project>/deploy_helper.py SUBCOMMAND ARGS``). It is a
privilege boundary: every argument and every byte of stdin is checked before anything
is written. A supervisor config may define only this project's programs of one
release, run as the app user and logging in the project's log directory; an nginx
site may use only a reviewed list of directives, with paths the project owns.

Its settings come from deploy_helper.json next to it (root-owned, written by
provisioning), never from the arguments or the environment. Subcommands:
install-programs RELEASE, remove-programs RELEASE, stop-worker RELEASE,
start-worker RELEASE, stop-programs RELEASE, start-programs RELEASE,
releases, status [PROGRAM], install-site, prune-logs OLDEST_RELEASE,
maintenance on|off|status.
A refusal or failure prints one line to stderr, exit 1.
"""

import argparse
import configparser
import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import BinaryIO, NamedTuple

Runner = Callable[[list[str]], subprocess.CompletedProcess]
SUPERVISORCTL = "/usr/bin/supervisorctl"
NGINX = "/usr/sbin/nginx"
# [0-9], not \d: \d also matches other scripts' digits.
RELEASE = "[0-9]{8}T[0-9]{6}Z"
STDIN_LIMIT = 1 << 20
PROGRAM_KEYS = frozenset(
    "command directory environment user autostart autorestart startsecs startretries "
    "stopsignal stopwaitsecs stopasgroup killasgroup redirect_stderr stdout_logfile "
    "stderr_logfile stdout_logfile_maxbytes stdout_logfile_backups stderr_logfile_maxbytes "
    "stderr_logfile_backups priority umask numprocs process_name".split()
)
NGINX_DIRECTIVES = frozenset(
    "upstream server listen server_name location alias root expires add_header "
    "proxy_set_header proxy_redirect proxy_pass proxy_http_version proxy_buffering "
    "proxy_read_timeout proxy_connect_timeout proxy_send_timeout proxy_next_upstream "
    "client_max_body_size keepalive keepalive_timeout return rewrite try_files limit_req "
    "limit_req_zone limit_req_status limit_conn limit_conn_zone limit_conn_status gzip "
    "gzip_types gzip_static etag allow deny internal error_page charset default_type index "
    "disable_symlinks if set map access_log error_log include resolver".split()
)
# Where the site listens, its TLS and whose forwarded headers count are
# provisioning's (roles/tls): the site includes them from LISTEN_CONF only.
PROVISIONING_DIRECTIVES = frozenset(
    "listen http2 set_real_ip_from real_ip_header real_ip_recursive".split()
)
LISTEN_CONF = "listen.conf"
# Words split as nginx's ngx_conf_read_token splits them: its whitespace is only these four
# (not Unicode's); "#" starts a comment only at a word's start; "${" does not open a block;
# a backslash takes the next character; a quote or "}" inside a word is part of it.
NGINX_TOKEN = re.compile(
    r"[ \t\r\n]+|#[^\n]*|[;{}]"
    r"|\"(?P<dq>(?:[^\"\\]|\\[\s\S])*)\"|'(?P<sq>(?:[^'\\]|\\[\s\S])*)'"
    r"|(?P<word>(?:\\[\s\S]?|\$\{*|[^ \t\r\n;{\\$\"'])(?:\\[\s\S]?|\$\{*|[^ \t\r\n;{\\$])*)"
)
NGINX_ESCAPE = re.compile(r"\\([\s\S])")


class Refused(Exception):
    """An input the helper will not act on, or a command that failed; the message says why."""


def run_command(args: list[str]) -> subprocess.CompletedProcess:
    """Run a fixed command with a fixed environment, capturing its output."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(  # noqa: S603 - fixed absolute programs, arguments checked by callers
        args, capture_output=True, text=True, check=False, env=env, stdin=subprocess.DEVNULL
    )


@dataclass(frozen=True)
class Config:
    """The server's layout, from the root-owned JSON next to this file."""

    project: str
    app_user: str
    root: str
    log_dir: str
    runtime_dir: str
    media_root: str
    supervisor_conf_dir: str
    nginx_site: str
    nginx_include_dir: str
    run: Runner = field(default=run_command, compare=False)  # tests replace these two
    systemd_dir: str = "/run/systemd/system"


def load_config(path: Path | None = None) -> Config:
    """Read deploy_helper.json next to this file (``path`` is for tests only)."""
    path = path or Path(__file__).resolve().with_name("deploy_helper.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Refused(f"cannot read {path}: {error}; re-run provisioning") from error
    # Every field but the two tests replace; project and app_user first, then the paths.
    keys = [f.name for f in fields(Config) if f.name not in ("run", "systemd_dir")]
    if not (
        isinstance(data, dict)
        and sorted(data) == sorted(keys)
        and all(isinstance(v, str) for v in data.values())
        and re.fullmatch("[a-z][a-z0-9_]*", data["project"])
        and re.fullmatch("[a-z_][a-z0-9_-]*", data["app_user"])
        and all(data[k].startswith("/") for k in keys[2:])
    ):
        raise Refused(f"{path} must set exactly {', '.join(keys)}, paths absolute; re-provision")
    return Config(**data)


def check_release(release: str) -> str:
    """Return ``release`` if it is a release name like 20261127T101500Z, else refuse."""
    if not re.fullmatch(RELEASE, release):
        raise Refused(f"release {release!r} is not a release name like 20261127T101500Z")
    return release


def is_under(path: str, *bases: str) -> bool:
    """Whether ``path`` is one of ``bases`` or below one, by whole components, with no ``..``."""
    if not path.startswith("/") or ".." in path.split("/"):
        return False
    return any(path == b or path.startswith(b.rstrip("/") + "/") for b in bases)


def decode(data: bytes, what: str) -> str:
    """Strict UTF-8 without control characters, which one parser or another reads as a newline."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Refused(f"the {what} is not UTF-8 ({error})") from error
    if bad := re.search("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]", text):
        raise Refused(f"the {what} contains the control character {bad.group()!r}; remove it")
    return text


def check_programs(config: Config, release: str, text: str) -> list[str]:
    """Refuse a supervisor config that is not only this release's programs; return their names."""
    # default_section: no [DEFAULT] whose keys would silently join every section.
    parser = configparser.RawConfigParser(interpolation=None, strict=True, default_section="\0")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source="the supervisor config")
    except configparser.Error as error:
        raise Refused(" ".join(str(error).split())) from error
    p, group = config.project, f"group:{config.project}-{release}"
    programs = [s for s in parser.sections() if re.fullmatch(f"program:{p}-[a-z]+-{release}", s)]
    for section in parser.sections():
        if section not in programs and section != group:
            raise Refused(
                f"section [{section}] is not allowed: only [{group}] and "
                f"[program:{p}-<name>-{release}] may be installed for release {release}"
            )
        for key, value in parser.items(section):
            if "%(" in value or "\n" in value:
                raise Refused(
                    f"[{section}] {key}: values may not contain '%(' (supervisord expands it "
                    "from its root environment) nor span several lines"
                )
    if not programs:
        raise Refused(f"the supervisor config defines no [program:{p}-<name>-{release}]")
    # supervisorctl update and stop name the group: a program outside it would escape both.
    if not parser.has_section(group):
        raise Refused(f"the supervisor config has no [{group}] listing its programs")
    if unknown := set(parser.options(group)) - {"programs", "priority"}:
        raise Refused(f"[{group}] key {min(unknown)!r} is not allowed (only programs, priority)")
    listed = {name.strip() for name in parser.get(group, "programs", fallback="").split(",")}
    names = {section.removeprefix("program:") for section in programs}
    if stray := sorted(listed - names):
        raise Refused(f"[{group}] lists {stray[0]!r}, not a program of this file")
    if unlisted := sorted(names - listed):
        raise Refused(f"[{group}] does not list {unlisted[0]!r}; every program must be in it")
    for section in programs:
        check_program(config, release, section, dict(parser.items(section)))
    return [s.removeprefix("program:") for s in programs]


def check_program(config: Config, release: str, section: str, values: dict[str, str]) -> None:
    """Refuse one program that could act beyond the app user and its release."""
    if unknown := sorted(set(values) - PROGRAM_KEYS):
        raise Refused(
            f"[{section}] key {unknown[0]!r} is not allowed; the helper allows only these keys: "
            + ", ".join(sorted(PROGRAM_KEYS))
        )
    if values.get("user") != config.app_user:
        raise Refused(
            f"[{section}] user={values.get('user', '')!r}: every program must set "
            f"user={config.app_user} (supervisord runs it as that user)"
        )
    log = re.escape(config.log_dir) + f"/[a-z]+-{release}\\.log"
    for key in ("stdout_logfile", "stderr_logfile"):
        if (value := values.get(key, "NONE")) != "NONE" and not re.fullmatch(log, value):
            raise Refused(
                f"[{section}] {key}={value!r}: supervisord opens it as root, so it must be "
                f"NONE or {config.log_dir}/<name>-{release}.log"
            )
    release_dir = f"{config.root}/releases/{release}"
    if not is_under(values.get("directory", release_dir), release_dir):
        raise Refused(f"[{section}] directory={values['directory']!r} is not in {release_dir}")
    command = values.get("command", "")
    try:
        executable = shlex.split(command)[0] if command else ""  # as supervisord splits it
    except ValueError as error:
        raise Refused(f"[{section}] command cannot be split: {error}") from error
    if not command.startswith(release_dir + "/") or not is_under(executable, release_dir):
        raise Refused(f"[{section}] command={command!r} must start with {release_dir}/")


class Directive(NamedTuple):
    """One nginx directive; ``context`` names the blocks it is in, outermost first."""

    name: str
    args: list[str]
    context: tuple[str, ...]
    line: int
    block: bool


def nginx_tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """Yield (kind, value, line), kind "word", ";", "{" or "}", split as nginx splits them."""
    pos, line = 0, 1
    while pos < len(text):
        match = NGINX_TOKEN.match(text, pos)
        if not match:  # nothing else fails to match: a quote that is never closed
            raise Refused(f"nginx site line {line}: unterminated {text[pos]} quote")
        token, end = match.group(), match.end()
        if token in (";", "{", "}"):
            yield token, token, line
        elif token[0] not in " \t\r\n#":
            word = next(g for g in match.group("dq", "sq", "word") if g is not None)
            if token[0] in "\"'" and end < len(text) and text[end] not in " \t\r\n;{)":
                raise Refused(f"nginx site line {line}: unexpected {text[end]!r} after a quote")
            yield "word", NGINX_ESCAPE.sub(unescape, word), line
        line, pos = line + token.count("\n"), end


def unescape(match: re.Match[str]) -> str:
    """nginx's escapes: only quotes, backslash, t, r and n; any other backslash stays."""
    char = match[1]
    return {"t": "\t", "r": "\r", "n": "\n"}.get(char, char if char in "\"'\\" else match[0])


def parse_nginx(text: str) -> list[Directive]:
    """Every directive of an nginx config, with its enclosing blocks; refuse bad syntax."""
    directives: list[Directive] = []
    stack: list[str] = []
    words: list[str] = []
    first = 0
    for kind, value, line in nginx_tokens(text):
        if kind == "word":
            first = first if words else line
            words.append(value)
        elif kind == "}":
            if words or not stack:
                what = "missing ';' before '}'" if words else "unexpected '}'"
                raise Refused(f"nginx site line {line}: {what}")
            stack.pop()
        elif not words:
            raise Refused(f"nginx site line {line}: unexpected {kind!r}")
        else:
            directives.append(Directive(words[0], words[1:], tuple(stack), first, kind == "{"))
            stack += [words[0]] if kind == "{" else []
            words = []
    if words:
        raise Refused(f"nginx site line {first}: missing ';' after {words[0]!r}")
    if stack:
        raise Refused("nginx site: unterminated block " + repr(stack[-1]) + " (missing '}')")
    return directives


def unix_path(address: str) -> str | None:
    """The socket path of a ``unix:`` address (nginx reads the scheme in any case)."""
    at = address.lower().find("unix:")
    return None if at < 0 else address[at + 5 :].split(":")[0]


def site_problem(config: Config, d: Directive) -> str | None:
    """What is wrong with one directive of the site, or None."""
    arg = d.args[0] if d.args else ""
    in_map = d.context[-1:] == ("map",)
    if in_map and d.block:
        return "is a block inside a map, where only key/value entries may be"
    if d.name == "include":  # checked inside map blocks too: nginx includes files there as well
        in_dir = is_under(arg, config.nginx_include_dir) and arg.rstrip("/") != (
            config.nginx_include_dir.rstrip("/")
        )
        snippet = re.fullmatch("/etc/nginx/snippets/[A-Za-z0-9_][-.A-Za-z0-9_]*", arg)
        if re.search(r"[*?\[$]", arg) or not (in_dir or snippet):  # nginx globs *, ? and [
            return f"{arg!r}: only a file in {config.nginx_include_dir} or /etc/nginx/snippets/"
    elif in_map:
        return None
    elif d.name in PROVISIONING_DIRECTIVES or d.name.startswith("ssl_"):
        return (
            "is provisioning's (roles/tls): the site takes where it listens and its TLS from "
            f"include {listen_conf(config)};"
        )
    elif d.name not in NGINX_DIRECTIVES:
        return (
            "is not allowed: nginx's master process runs as root, so the helper allows only "
            "a reviewed list of directives"
        )
    elif d.name in ("alias", "root"):
        bases, fixed = (config.root, config.media_root), arg.split("$")[0]
        # A variable must come after a whole directory: /srv/p$x could become /srv/p2.
        after_dir = "$" not in arg or fixed.startswith(tuple(b.rstrip("/") + "/" for b in bases))
        if not (is_under(fixed, *bases) and after_dir and ".." not in arg.split("/")):
            return f"{arg!r}: must be under {config.root} or {config.media_root}"
    elif d.name == "proxy_pass" or (d.name == "server" and d.context[-1:] == ("upstream",)):
        path = unix_path(arg)
        if path is not None and not is_under(path, config.root, config.runtime_dir):
            return f"{arg!r}: a unix: socket must be under {config.root} or {config.runtime_dir}"
    elif d.name in ("access_log", "error_log"):
        log = f"/var/log/nginx/{re.escape(config.project)}[-.a-z0-9]*\\.log"
        if not re.fullmatch(log, arg) and not (d.name == "access_log" and arg == "off"):
            return f"{arg!r}: root opens it: only /var/log/nginx/{config.project}<name>.log"
    return None


def listen_conf(config: Config) -> str:
    return f"{config.nginx_include_dir.rstrip('/')}/{LISTEN_CONF}"


def servers_without_listen(config: Config, directives: list[Directive]) -> Iterator[int]:
    """The lines of the site's server blocks that do not include provisioning's listen.conf.

    Such a server would listen where nginx's default puts it (port 80), beside
    provisioning's redirect to HTTPS.
    """
    server = None
    for d in [*directives, Directive("", [], (), 0, False)]:  # the sentinel ends the last one
        if not d.context:
            if server is not None:
                yield server
            server = d.line if d.name == "server" and d.block else None
        elif d.context == ("server",) and d.name == "include" and d.args == [listen_conf(config)]:
            server = None


def check_site(config: Config, text: str) -> list[Directive]:
    """Refuse an nginx site that uses a directive or a path outside the reviewed list."""
    directives = parse_nginx(text)
    for d in directives:
        if problem := site_problem(config, d):
            raise Refused(f"nginx site line {d.line}: {d.name} {problem}")
    for line in servers_without_listen(config, directives):
        raise Refused(
            f"nginx site line {line}: server does not include {listen_conf(config)}, where "
            "provisioning says where the site listens and with which certificate"
        )
    return directives


def write_atomically(path: Path, data: bytes | None) -> None:
    """Replace ``path`` by ``data``, mode 0644, or remove it for None; never half a file."""
    if data is None:
        path.unlink(missing_ok=True)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # not *.conf
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            os.fchmod(file.fileno(), 0o644)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # The rename must reach the disk too, or a crash could bring the old file back.
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_existing(path: Path) -> bytes | None:
    """The bytes of ``path``, or None when there is no such file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def failure(args: list[str], result: subprocess.CompletedProcess) -> Refused:
    """The error for a command that failed, with all it printed on one line."""
    output = f"{result.stdout or ''}\n{result.stderr or ''}"
    lines = " | ".join(line.strip() for line in output.splitlines() if line.strip())
    return Refused(f"{' '.join(args)} failed (exit {result.returncode}): {lines or 'no output'}")


def run_checked(config: Config, args: list[str]) -> subprocess.CompletedProcess:
    """Run ``args``; refuse, with the command's output, when it fails."""
    result = config.run(args)
    if result.returncode != 0:
        raise failure(args, result)
    return result


def install_programs(config: Config, release: str, data: bytes) -> list[str]:
    """Check and install a release's supervisor config, then have supervisord load it."""
    check_release(release)
    programs = check_programs(config, release, decode(data, "supervisor config"))
    group = f"{config.project}-{release}"
    path = Path(config.supervisor_conf_dir) / f"{group}.conf"
    old = read_existing(path)
    write_atomically(path, data)
    try:
        run_checked(config, [SUPERVISORCTL, "reread"])
    except Refused:
        write_atomically(path, old)  # a file supervisord rejects would fail every later reread
        raise
    run_checked(config, [SUPERVISORCTL, "update", group])
    return programs


def remove_programs(config: Config, release: str) -> None:
    """Stop a release's programs and remove its supervisor config; nothing to remove is fine."""
    group = f"{config.project}-{check_release(release)}"
    config.run([SUPERVISORCTL, "stop", f"{group}:*"])  # fails when not running: nothing to stop
    (Path(config.supervisor_conf_dir) / f"{group}.conf").unlink(missing_ok=True)
    run_checked(config, [SUPERVISORCTL, "reread"])
    result = config.run(args := [SUPERVISORCTL, "update", group])
    # "no such group": it was neither in a file nor loaded, so there is nothing to update.
    if result.returncode != 0 and "no such group" not in (result.stdout + result.stderr).lower():
        raise failure(args, result)


def status(config: Config, program: str | None = None) -> str:
    """supervisorctl status of one program, or of every program of this project."""
    p = re.escape(config.project)
    if program is not None and not re.fullmatch(f"{p}-({RELEASE}):{p}-[a-z]+-\\1", program):
        raise Refused(f"{program!r} is not a program like {config.project}-RELEASE:NAME")
    result = config.run(args := [SUPERVISORCTL, "status", *filter(None, [program])])
    # Its exit status is 3 when a program is stopped: the listing is still what is asked for.
    if program is not None:
        if not result.stdout.strip():
            raise failure(args, result)
        return result.stdout.rstrip()
    lines = [line for line in result.stdout.splitlines() if line.startswith(f"{config.project}-")]
    if not lines and result.returncode not in (0, 3):
        raise failure(args, result)
    return "\n".join(lines)


def worker_program(config: Config, release: str) -> str:
    """The supervisor name of ``release``'s Celery worker (conf/supervisor.conf.j2)."""
    check_release(release)
    return f"{config.project}-{release}:{config.project}-worker-{release}"


def stop_worker(config: Config, release: str) -> None:
    """Stop ``release``'s worker: it finishes its running tasks and takes no new one.

    A worker that does not run (or a release without programs) is fine:
    there is nothing to stop.
    """
    result = config.run(args := [SUPERVISORCTL, "stop", worker_program(config, release)])
    said = (result.stdout + result.stderr).lower()
    if result.returncode != 0 and "not running" not in said and "no such process" not in said:
        raise failure(args, result)


def start_worker(config: Config, release: str) -> None:
    """Start ``release``'s worker again; one that already runs is fine."""
    result = config.run(args := [SUPERVISORCTL, "start", worker_program(config, release)])
    if result.returncode != 0 and "already started" not in (result.stdout + result.stderr):
        raise failure(args, result)


def stop_programs(config: Config, release: str) -> None:
    """Stop ``release``'s app server and worker, keeping them installed (a restore's pause)."""
    group = f"{config.project}-{check_release(release)}"
    result = config.run(args := [SUPERVISORCTL, "stop", f"{group}:*"])
    said = (result.stdout + result.stderr).lower()
    if result.returncode != 0 and "not running" not in said:
        raise failure(args, result)


def start_programs(config: Config, release: str) -> None:
    """Start ``release``'s app server and worker again; running ones are left as they are."""
    group = f"{config.project}-{check_release(release)}"
    result = config.run(args := [SUPERVISORCTL, "start", f"{group}:*"])
    if result.returncode != 0 and "already started" not in (result.stdout + result.stderr):
        raise failure(args, result)


MAINTENANCE_FLAG = "maintenance.on"


def maintenance_flag(config: Config) -> Path:
    """The file whose presence has the site answer 503 (conf/nginx.conf.j2)."""
    return Path(config.nginx_include_dir) / MAINTENANCE_FLAG


def maintenance(config: Config, state: str) -> str:
    """Turn maintenance mode on or off (nginx sees it at the next request), or show it."""
    flag = maintenance_flag(config)
    if state == "on" and not flag.exists():
        write_atomically(flag, b"on\n")
    elif state == "off":
        flag.unlink(missing_ok=True)
    return "on" if flag.exists() else "off"


def releases_with_programs(config: Config) -> list[str]:
    """The releases with a supervisor config or programs supervisord still runs, sorted.

    Both: a config removed while supervisord kept its programs, or one
    written and never loaded, each still counts as programs to stop.
    """
    group = re.compile(f"{re.escape(config.project)}-({RELEASE})")
    found = set()
    for path in Path(config.supervisor_conf_dir).glob(f"{config.project}-*.conf"):
        if match := group.fullmatch(path.name.removesuffix(".conf")):
            found.add(match[1])
    result = config.run(args := [SUPERVISORCTL, "status"])
    # 3: some program is stopped; the listing is complete all the same.
    if result.returncode not in (0, 3) and not result.stdout.strip():
        raise failure(args, result)
    for line in result.stdout.splitlines():
        if match := group.fullmatch(line.split(":", 1)[0].strip()):
            found.add(match[1])
    return sorted(found)


def install_site(config: Config, data: bytes) -> str:
    """Check and install the nginx site; keep the old one if nginx -t refuses the new one."""
    check_site(config, decode(data, "nginx site"))
    path = Path(config.nginx_site)
    if (old := read_existing(path)) == data:
        return "unchanged"
    write_atomically(path, data)
    test = config.run(args := [NGINX, "-t"])
    if test.returncode != 0:
        write_atomically(path, old)
        raise Refused(f"nginx -t refused the site, the previous one is kept: {failure(args, test)}")
    if Path(config.systemd_dir).is_dir():
        run_checked(config, ["/usr/bin/systemctl", "reload", "nginx"])
    else:
        run_checked(config, [NGINX, "-s", "reload"])
    return "installed"


def prune_logs(config: Config, oldest: str) -> list[str]:
    """Remove the program logs of releases before ``oldest``; return the names removed."""
    check_release(oldest)
    pattern = re.compile(f"[a-z]+-({RELEASE})\\.log(\\.[0-9]+)?")
    removed = []
    # Everything goes through a descriptor of the directory: no path in it is followed.
    dir_fd = os.open(config.log_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        with os.scandir(dir_fd) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            old = match is not None and match[1] < oldest
            if old and (entry.is_symlink() or entry.is_file(follow_symlinks=False)):
                os.unlink(entry.name, dir_fd=dir_fd)  # a link itself, never its target
                removed.append(entry.name)
    finally:
        os.close(dir_fd)
    return removed


def read_stdin(stream: BinaryIO) -> bytes:
    """All of stdin, up to a size no config of ours comes near."""
    data = stream.read(STDIN_LIMIT + 1)
    if len(data) > STDIN_LIMIT:
        raise Refused(f"stdin is larger than {STDIN_LIMIT} bytes; send the rendered file only")
    return data


def main(
    argv: list[str] | None = None, config: Config | None = None, stdin: BinaryIO | None = None
) -> int:
    """Run one subcommand: 0 when done, 1 when refused or failed, 2 for a usage error."""
    parser = argparse.ArgumentParser(
        prog="deploy_helper", description="The deploy user's root steps."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, metavar in [
        ("install-programs", "RELEASE"),
        ("remove-programs", "RELEASE"),
        ("stop-worker", "RELEASE"),
        ("start-worker", "RELEASE"),
        ("stop-programs", "RELEASE"),
        ("start-programs", "RELEASE"),
        ("prune-logs", "OLDEST_RELEASE"),
    ]:
        commands.add_parser(name).add_argument("release", metavar=metavar)
    commands.add_parser("status").add_argument("program", nargs="?", metavar="PROGRAM")
    commands.add_parser("install-site")
    commands.add_parser("releases")
    commands.add_parser("maintenance").add_argument("state", choices=["on", "off", "status"])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        config = config or load_config()
        stream = sys.stdin.buffer if stdin is None else stdin
        if args.command == "install-programs":
            install_programs(config, args.release, read_stdin(stream))
        elif args.command == "remove-programs":
            remove_programs(config, args.release)
        elif args.command == "stop-worker":
            stop_worker(config, args.release)
        elif args.command == "start-worker":
            start_worker(config, args.release)
        elif args.command == "stop-programs":
            stop_programs(config, args.release)
        elif args.command == "start-programs":
            start_programs(config, args.release)
        elif args.command == "status":
            if text := status(config, args.program):
                print(text)
        elif args.command == "install-site":
            print(install_site(config, read_stdin(stream)))
        elif args.command == "maintenance":
            print(f"maintenance {maintenance(config, args.state)}")
        elif args.command == "releases":
            for release in releases_with_programs(config):
                print(release)
        else:
            for name in prune_logs(config, args.release):
                print(name)
    except (Refused, OSError) as error:
        message = " | ".join(filter(None, (line.strip() for line in str(error).splitlines())))
        print(f"deploy_helper: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
