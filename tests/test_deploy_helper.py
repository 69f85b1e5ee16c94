"""The deploy helper, the deploy user's only way to act as root, installs only what it checked.

Everything goes through a Config pointing at tmp_path and a recording fake instead of
supervisorctl, nginx and systemctl: nothing here touches the machine's /etc.
"""

import dataclasses
import io
import json
import os
import re

import pytest

from .helpers import FakeRunner, script

deploy_helper = script("provisioning/roles/deploy_user/files/deploy_helper.py")

R = "20261127T101500Z"
CTL = "/usr/bin/supervisorctl"

PROGRAMS = f"""\
; The programs of release {R}.
[group:acme_shop-{R}]
programs=acme_shop-web-{R},acme_shop-worker-{R}

[program:acme_shop-web-{R}]
command=/srv/acme_shop/releases/{R}/server/run .venv/bin/gunicorn -c conf/gunicorn.py acme_shop.wsgi
directory=/srv/acme_shop/releases/{R}
environment=GUNICORN_BIND="unix:/run/acme_shop/{R}.sock"
user=acme_shop
autostart=true
autorestart=true
startsecs=2
stopsignal=TERM
stopwaitsecs=35
stopasgroup=true
redirect_stderr=true
stdout_logfile=/var/log/acme_shop/web-{R}.log

[program:acme_shop-worker-{R}]
command=/srv/acme_shop/releases/{R}/server/run .venv/bin/celery -A acme_shop worker
directory=/srv/acme_shop/releases/{R}
user=acme_shop
autostart=true
autorestart=true
startsecs=2
stopsignal=TERM
stopwaitsecs=60
stopasgroup=true
redirect_stderr=true
stdout_logfile=/var/log/acme_shop/worker-{R}.log
"""

SITE = """\
# The acme_shop site.
upstream acme_shop_app {
    server unix:/srv/acme_shop/current/run/gunicorn.sock fail_timeout=0;
}
server {
    include /etc/nginx/acme_shop/listen.conf;
    server_name example.com www.example.com;
    disable_symlinks if_not_owner from=$document_root;
    location /static/ { alias /srv/acme_shop/current/staticfiles/; expires 7d; }
    location /media/ { alias /var/lib/acme_shop/media/; }
    location / {
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_redirect off;
        proxy_pass http://acme_shop_app;
    }
}
"""


@pytest.fixture
def config(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "sites-enabled").mkdir()
    return deploy_helper.Config(
        project="acme_shop",
        app_user="acme_shop",
        root="/srv/acme_shop",
        log_dir="/var/log/acme_shop",
        runtime_dir="/run/acme_shop",
        media_root="/var/lib/acme_shop/media",
        supervisor_conf_dir=str(tmp_path / "conf.d"),
        nginx_site=str(tmp_path / "sites-enabled" / "acme_shop.conf"),
        nginx_include_dir="/etc/nginx/acme_shop",
        run=FakeRunner(),
        systemd_dir=str(tmp_path / "no-systemd"),
    )


def with_runner(config, results):
    """``config`` with a fake that answers the commands in ``results`` as told."""
    return dataclasses.replace(config, run=FakeRunner(results))


# Supervisor configs ------------------------------------------------------------------


def test_the_rendered_programs_are_accepted(config):
    assert deploy_helper.check_programs(config, R, PROGRAMS) == [
        f"acme_shop-web-{R}",
        f"acme_shop-worker-{R}",
    ]


WEB_LOG = f"stdout_logfile=/var/log/acme_shop/web-{R}.log"
WEB_DIRECTORY = f"directory=/srv/acme_shop/releases/{R}\nuser"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("", ""),
        (WEB_LOG, WEB_LOG + "\nstdout_logfile_maxbytes=1MB\nstdout_logfile_backups=3"),
        ("redirect_stderr=true\n", "stderr_logfile=NONE\n"),
        ("redirect_stderr=true\n", f"stderr_logfile=/var/log/acme_shop/errors-{R}.log\n"),
        (WEB_DIRECTORY, WEB_DIRECTORY.replace("\n", "/src\n")),
        ("startsecs=2", "startsecs=2 ; an inline comment is part of a value we do not check"),
        (f"programs=acme_shop-web-{R},", f"priority=10\nprograms= acme_shop-web-{R} , "),
    ],
    ids=[
        "as rendered",
        "log size",
        "stderr NONE",
        "stderr log",
        "subdirectory",
        "comment",
        "group",
    ],
)
def test_accepted_program_variants(config, old, new):
    assert deploy_helper.check_programs(config, R, PROGRAMS.replace(old, new, 1))


OTHER_RELEASE = "20261128T000000Z"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("user=acme_shop", "user=root", "user='root': every program must set user=acme_shop"),
        ("user=acme_shop\n", "", "user='': every program must set user=acme_shop"),
        ("user=acme_shop", "user=acme_shop\nUser=root", "key 'User' is not allowed"),
        ("user=acme_shop", "user=acme_shop\nuser=root", "option 'user' in section"),
        (f"stdout_logfile=/var/log/acme_shop/web-{R}.log", "stdout_logfile=/root/x",
         "stdout_logfile='/root/x': supervisord opens it as root"),
        (f"stdout_logfile=/var/log/acme_shop/web-{R}.log",
         "stdout_logfile=/var/log/acme_shop/../../root/x.log", "stdout_logfile='/var/log/acme_sh"),
        (f"stdout_logfile=/var/log/acme_shop/web-{R}.log",
         f"stdout_logfile=/var/log/acme_shop/web-{OTHER_RELEASE}.log", "stdout_logfile="),
        ("redirect_stderr=true\n", "stderr_logfile=/etc/passwd\n", "stderr_logfile='/etc/passwd'"),
        ("environment=GUNICORN", "environment=HOME=%(ENV_HOME)s,GUNICORN", "may not contain '%('"),
        ("stopsignal=TERM", "stopsignal=TERM\n  user=root", "nor span several lines"),
        ("user=acme_shop", "serverurl=unix:///tmp/x.sock\nuser=acme_shop",
         "key 'serverurl' is not allowed; the helper allows only these keys"),
        ("autostart=true", "autostart=true\nstdout_syslog=true", "key 'stdout_syslog' is not"),
        ("", "[include]\nfiles=/tmp/*.conf\n", "section [include] is not allowed"),
        ("", "[unix_http_server]\nfile=/tmp/s.sock\n", "section [unix_http_server] is not"),
        ("", "[supervisord]\nuser=root\n", "section [supervisord] is not allowed"),
        ("", "[DEFAULT]\nuser=root\n", "section [DEFAULT] is not allowed"),
        ("", "[eventlistener:x]\ncommand=/bin/sh\n", "section [eventlistener:x] is not allowed"),
        ("", "[rpcinterface:x]\nx=y\n", "section [rpcinterface:x] is not allowed"),
        ("", f"[fcgi-program:acme_shop-web-{R}]\ncommand=/bin/sh\n", "section [fcgi-program:"),
        ("", f"[program:other-web-{R}]\ncommand=/bin/sh\n", f"[program:other-web-{R}] is not"),
        ("", f"[program:acme_shop-web-{OTHER_RELEASE}]\n",
         f"section [program:acme_shop-web-{OTHER_RELEASE}] is not allowed"),
        ("", f"[program:acme_shop-Web-{R}]\n", f"section [program:acme_shop-Web-{R}] is not"),
        ("", f"[program:acme_shop-web-{R}]\nuser=acme_shop\n", "already exists"),
        (f"acme_shop-worker-{R}\n", f"acme_shop-worker-{R},acme_shop-beat-{R}\n",
         f"lists 'acme_shop-beat-{R}', not a program of this file"),
        (f"acme_shop-web-{R},acme_shop-worker-{R}\n", f"acme_shop-web-{R}\n",
         f"does not list 'acme_shop-worker-{R}'; every program must be in it"),
        (f"[group:acme_shop-{R}]\nprograms=acme_shop-web-{R},acme_shop-worker-{R}\n", "",
         f"has no [group:acme_shop-{R}] listing its programs"),
        ("programs=", "priority=1\numask=022\nprograms=", "key 'umask' is not allowed"),
        (f"command=/srv/acme_shop/releases/{R}/server/run .venv/bin/celery",
         "command=/bin/sh -c celery", "must start with /srv/acme_shop/releases/" + R + "/"),
        (f"command=/srv/acme_shop/releases/{R}/server/run .venv/bin/celery",
         f"command=/srv/acme_shop/releases/{R}/../../../../bin/sh", "command='/srv/acme_shop"),
        (f"command=/srv/acme_shop/releases/{R}/server/run .venv/bin/celery",
         f"command=/srv/acme_shop/releases/{R}/server/run 'unclosed", "cannot be split"),
        (f"directory=/srv/acme_shop/releases/{R}\nuser", "directory=/srv/acme_shop\nuser",
         f"directory='/srv/acme_shop' is not in /srv/acme_shop/releases/{R}"),
        (f"directory=/srv/acme_shop/releases/{R}\nuser",
         f"directory=/srv/acme_shop/releases/{R}/../..\nuser", "is not in /srv/acme_shop/release"),
        ("user=acme_shop", "user=acme_shop\r[program:x]", "control character '\\r'"),
        ("user=acme_shop", "user acme_shop", "contains parsing errors"),
    ],
    ids=lambda value: value if len(value) < 30 else value[:30],
)  # fmt: skip
def test_refused_program_variants(config, old, new, message):
    if old:
        text = PROGRAMS.replace(old, new, 1)
        assert text != PROGRAMS
    else:
        text = PROGRAMS + "\n" + new
    with pytest.raises(deploy_helper.Refused) as refused:
        deploy_helper.check_programs(config, R, deploy_helper.decode(text.encode(), "config"))
    assert message in str(refused.value)


def test_a_config_without_programs_is_refused(config):
    with pytest.raises(deploy_helper.Refused, match="defines no .program:acme_shop-<name>-"):
        deploy_helper.check_programs(config, R, f"[group:acme_shop-{R}]\nprograms=\n")


def test_the_release_of_the_argument_is_the_one_checked(config):
    with pytest.raises(
        deploy_helper.Refused, match=f"section .group:acme_shop-{R}. is not allowed"
    ):
        deploy_helper.check_programs(config, OTHER_RELEASE, PROGRAMS)


@pytest.mark.parametrize(
    "release",
    ["../x", f"{R}/../x", f"{R}\n", "20261127T101500", "2026112७T101500Z", "", "*"],
)
def test_refused_release_names(release):
    with pytest.raises(deploy_helper.Refused, match="is not a release name like"):
        deploy_helper.check_release(release)


# nginx sites -------------------------------------------------------------------------


def test_the_rendered_site_is_accepted(config):
    directives = deploy_helper.check_site(config, SITE)
    assert [d.name for d in directives][:4] == ["upstream", "server", "server", "include"]
    proxy_pass = next(d for d in directives if d.name == "proxy_pass")
    assert proxy_pass.args == ["http://acme_shop_app"]
    assert proxy_pass.context == ("server", "location")
    assert proxy_pass.line == 15


@pytest.mark.parametrize(
    "server_body",
    [
        "include /etc/nginx/snippets/ssl-params.conf; include /etc/nginx/acme_shop/extra.conf;",
        "access_log off; error_log /var/log/nginx/acme_shop-error.log warn;",
        "access_log /var/log/nginx/acme_shop.access.log combined buffer=32k;",
        "location /m/ { root /var/lib/acme_shop/media; } location /x/ { alias /srv/acme_shop/$1; }",
        "location / { proxy_pass http://unix:/run/acme_shop/20261127T101500Z.sock:/; }",
        "if ($host = 'www.example.com') { return 301 https://example.com$request_uri; }",
        'add_header X-Note "a # is not a comment here" always;',
        "set $x ${host}_suffix; # load_module /tmp/x.so;",
        "client_max_body_size 20m; gzip on; gzip_types text/css application/json;",
    ],
)
def test_accepted_site_variants(config, server_body):
    site = "server {\n" + LISTEN + server_body + "\n}\n"
    deploy_helper.check_site(config, site)


def test_map_entries_are_not_directives(config):
    site = "map $uri $robots {\n  default 0;\n  load_module 1;\n  '~^/x' 2;\n}\n" + SITE
    entries = [d for d in deploy_helper.check_site(config, site) if d.context == ("map",)]
    assert [d.name for d in entries] == ["default", "load_module", "~^/x"]


def test_a_hash_inside_quotes_does_not_start_a_comment(config):
    comment = '  add_header X-A "one # two";  # a comment; with load_module\n'
    site = "server {\n" + comment + LISTEN + "}\n"
    add_header = deploy_helper.check_site(config, site)[1]
    assert add_header.args == ["X-A", "one # two"]


REVIEWED = "nginx's master process runs as root, so the helper allows only a reviewed list"
LISTEN = "include /etc/nginx/acme_shop/listen.conf;\n"
PROVISIONINGS = "is provisioning's (roles/tls): the site takes where it listens and its TLS"


@pytest.mark.parametrize(
    ("site", "message"),
    [
        ("server { access_log /root/x.log; }", "line 1: access_log '/root/x.log': root opens it"),
        ("server { error_log /etc/cron.d/x; }", "error_log '/etc/cron.d/x': root opens it"),
        ("server { error_log off; }", "error_log 'off'"),
        ("server { error_log syslog:server=10.0.0.1; }", "error_log 'syslog:server=10.0.0.1'"),
        ("server { access_log /var/log/nginx/other.log; }", "access_log '/var/log/nginx/other"),
        ("server {\n\n access_log /var/log/nginx/acme_shop/../../x.log; }", "line 3: access_log"),
        ("load_module /tmp/evil.so;", "load_module is not allowed: " + REVIEWED),
        ('"load_module" /tmp/evil.so;', "load_module is not allowed"),
        ("server { include /etc/shadow; }", "include '/etc/shadow': only a file in"),
        (
            "server { include /etc/nginx/acme_shop/*.conf; }",
            "include '/etc/nginx/acme_shop/*.conf'",
        ),
        ("server { include /etc/nginx/acme_shop; }", "include '/etc/nginx/acme_shop'"),
        ("server { include /etc/nginx/snippets/../../shadow; }", "include '/etc/nginx/snippe"),
        ("server { include /etc/nginx/snippets/*; }", "include '/etc/nginx/snippets/*'"),
        ("map $a $b { include /etc/shadow; }", "include '/etc/shadow'"),
        ("map $a $b { default 0; x { } }", "is a block inside a map"),
        ("server { location / { alias /etc/; } }", "alias '/etc/': must be under /srv/acme_shop"),
        ("server { root /srv/acme_shop2/; }", "root '/srv/acme_shop2/': must be under"),
        ("server { root /srv/acme_shop$x; }", "root '/srv/acme_shop$x': must be under"),
        ("server { root $document_root; }", "root '$document_root'"),
        ("server { alias /srv/acme_shop/../../etc/; }", "alias '/srv/acme_shop/../../etc/'"),
        ("server { alias /var/lib/acme_shop/media/../../../etc; }", "alias '/var/lib/acme_shop"),
        ("server { ssl_certificate_key /root/key.pem; }", "ssl_certificate_key " + PROVISIONINGS),
        ("server { ssl_protocols TLSv1 TLSv1.1; }", "ssl_protocols " + PROVISIONINGS),
        ("server { listen 8080; }", "listen " + PROVISIONINGS),
        ("server { listen unix:/etc/x.sock; }", "listen " + PROVISIONINGS),
        ("server { http2 on; }", "http2 " + PROVISIONINGS),
        ("server { set_real_ip_from 0.0.0.0/0; }", "set_real_ip_from " + PROVISIONINGS),
        (
            LISTEN.join(["server {", "}\nserver {\n server_name other; }"]),
            "line 3: server does not include /etc/nginx/acme_shop/listen.conf",
        ),
        ("server { location / { include /etc/nginx/acme_shop/listen.conf; } }", "line 1: server"),
        ("server { proxy_pass http://unix:/etc/x.sock:/; }", "proxy_pass 'http://unix:/etc/x"),
        ("server { proxy_pass http://UNIX:/var/run/x.sock; }", "a unix: socket must be under"),
        ("upstream a { server unix:/tmp/x.sock; }", "server 'unix:/tmp/x.sock': a unix: socket"),
        ("perl_modules /tmp;", "perl_modules is not allowed"),
        ("server { lua_code_cache off; }", "line 1: lua_code_cache is not allowed"),
        ("js_import /tmp/x.js;", "js_import is not allowed"),
        ("server { client_body_temp_path /etc/x; }", "client_body_temp_path is not allowed"),
        ("server { location / { types { text/html x; } } }", "types is not allowed"),
        ("server {\n  listen 80;\n", "unterminated block 'server' (missing '}')"),
        ('server { server_name "example.com; }\n', 'line 1: unterminated " quote'),
        ("server { server_name 'x\n\n; }", "line 1: unterminated ' quote"),
        ("server {\n  listen 80\n}\n", "line 3: missing ';' before '}'"),
        ("server { listen 80; }\n}\n", "line 2: unexpected '}'"),
        ("server { ; }", "unexpected ';'"),
        ("{ listen 80; }", "unexpected '{'"),
        ("server { listen 80; } listen", "line 1: missing ';' after 'listen'"),
        ('server { add_header X "a"b; }', "unexpected 'b' after a quote"),
        ("server { listen 80\\", "line 1: missing ';' after 'listen'"),
    ],
    ids=lambda value: value[:40],
)
def test_refused_sites(config, site, message):
    with pytest.raises(deploy_helper.Refused) as refused:
        deploy_helper.check_site(config, site)
    assert message in str(refused.value)


def test_a_directive_refused_in_a_site_names_its_line(config):
    site = SITE.replace("proxy_redirect off;", "proxy_redirect off;\n        lua_code_cache off;")
    with pytest.raises(deploy_helper.Refused, match=r"^nginx site line 15: lua_code_cache is"):
        deploy_helper.check_site(config, site)


# Workflows ---------------------------------------------------------------------------


def test_install_programs_writes_the_file_and_has_supervisor_load_it(config, tmp_path):
    deploy_helper.install_programs(config, R, PROGRAMS.encode())
    path = tmp_path / "conf.d" / f"acme_shop-{R}.conf"
    assert path.read_bytes() == PROGRAMS.encode()
    assert path.stat().st_mode & 0o7777 == 0o644
    assert config.run.calls == [[CTL, "reread"], [CTL, "update", f"acme_shop-{R}"]]
    assert os.listdir(tmp_path / "conf.d") == [path.name]  # no temporary file left


def test_a_refused_config_writes_nothing_and_runs_nothing(config, tmp_path):
    with pytest.raises(deploy_helper.Refused, match="user='root'"):
        deploy_helper.install_programs(
            config, R, PROGRAMS.replace("user=acme_shop", "user=root").encode()
        )
    assert os.listdir(tmp_path / "conf.d") == []
    assert config.run.calls == []


def test_a_config_supervisor_rejects_is_taken_back_with_its_output(config, tmp_path):
    config = with_runner(config, {(CTL, "reread"): (2, "ERROR: CANT_REREAD: bad\n", "")})
    with pytest.raises(deploy_helper.Refused, match="reread failed .exit 2.: ERROR: CANT_REREAD"):
        deploy_helper.install_programs(config, R, PROGRAMS.encode())
    assert os.listdir(tmp_path / "conf.d") == []
    assert config.run.calls == [[CTL, "reread"]]


def test_a_failing_update_is_reported_with_its_output(config):
    update = (CTL, "update", f"acme_shop-{R}")
    config = with_runner(config, {update: (1, "", "ERROR (spawn error)\n")})
    with pytest.raises(deploy_helper.Refused, match=r"update acme_shop-.* ERROR \(spawn error\)"):
        deploy_helper.install_programs(config, R, PROGRAMS.encode())


def test_remove_programs_stops_removes_and_updates(config, tmp_path):
    path = tmp_path / "conf.d" / f"acme_shop-{R}.conf"
    path.write_text(PROGRAMS)
    deploy_helper.remove_programs(config, R)
    assert not path.exists()
    assert config.run.calls == [
        [CTL, "stop", f"acme_shop-{R}:*"],
        [CTL, "reread"],
        [CTL, "update", f"acme_shop-{R}"],
    ]


def test_removing_programs_that_are_not_there_succeeds(config):
    config = with_runner(
        config,
        {
            (CTL, "stop", f"acme_shop-{R}:*"): (1, f"acme_shop-{R}: ERROR (no such group)\n", ""),
            (CTL, "update", f"acme_shop-{R}"): (1, f"ERROR: no such group: acme_shop-{R}\n", ""),
        },
    )
    deploy_helper.remove_programs(config, R)
    assert len(config.run.calls) == 3


def test_a_workers_stop_and_start_name_only_that_release_s_worker(config):
    assert deploy_helper.main(["stop-worker", R], config) == 0
    assert deploy_helper.main(["start-worker", R], config) == 0
    worker = f"acme_shop-{R}:acme_shop-worker-{R}"
    assert config.run.calls == [[CTL, "stop", worker], [CTL, "start", worker]]


def test_a_worker_stopped_already_or_running_already_is_fine(config):
    worker = f"acme_shop-{R}:acme_shop-worker-{R}"
    config = with_runner(
        config,
        {
            (CTL, "stop", worker): (1, f"{worker}: ERROR (not running)\n", ""),
            (CTL, "start", worker): (1, f"{worker}: ERROR (already started)\n", ""),
        },
    )
    deploy_helper.stop_worker(config, R)
    deploy_helper.start_worker(config, R)


def test_a_worker_that_fails_to_start_is_reported(config, capsys):
    worker = f"acme_shop-{R}:acme_shop-worker-{R}"
    config = with_runner(
        config, {(CTL, "start", worker): (7, f"{worker}: ERROR (spawn error)\n", "")}
    )
    assert deploy_helper.main(["start-worker", R], config) == 1
    assert "spawn error" in capsys.readouterr().err


def test_a_restore_pauses_both_programs_of_a_release_and_starts_them_again(config):
    assert deploy_helper.main(["stop-programs", R], config) == 0
    assert deploy_helper.main(["start-programs", R], config) == 0
    group = f"acme_shop-{R}:*"
    assert config.run.calls == [[CTL, "stop", group], [CTL, "start", group]]


def test_programs_stopped_already_are_fine_and_a_failed_start_is_reported(config, capsys):
    group = f"acme_shop-{R}:*"
    config = with_runner(
        config,
        {
            (CTL, "stop", group): (1, "acme_shop-web: ERROR (not running)\n", ""),
            (CTL, "start", group): (7, "acme_shop-web: ERROR (spawn error)\n", ""),
        },
    )
    assert deploy_helper.main(["stop-programs", R], config) == 0
    assert deploy_helper.main(["start-programs", R], config) == 1
    assert "spawn error" in capsys.readouterr().err


@pytest.mark.parametrize(
    "action", ["stop-worker", "start-worker", "stop-programs", "start-programs"]
)
def test_a_worker_of_no_release_is_refused(config, capsys, action):
    assert deploy_helper.main([action, "all"], config) == 1
    assert "is not a release name" in capsys.readouterr().err
    assert config.run.calls == []


def test_maintenance_mode_is_a_flag_file_root_writes(config, tmp_path, capsys):
    (tmp_path / "include").mkdir()
    config = dataclasses.replace(config, nginx_include_dir=str(tmp_path / "include"))
    flag = tmp_path / "include" / "maintenance.on"
    assert deploy_helper.main(["maintenance", "status"], config) == 0
    assert deploy_helper.main(["maintenance", "on"], config) == 0
    assert flag.exists() and flag.stat().st_mode & 0o7777 == 0o644
    assert deploy_helper.main(["maintenance", "on"], config) == 0  # on already: fine
    assert deploy_helper.main(["maintenance", "status"], config) == 0
    assert deploy_helper.main(["maintenance", "off"], config) == 0
    assert not flag.exists()
    assert capsys.readouterr().out.split("\n")[:-1] == [
        "maintenance off",
        "maintenance on",
        "maintenance on",
        "maintenance on",
        "maintenance off",
    ]
    # Nothing for nginx to reload: it looks for the file at each request.
    assert config.run.calls == []


def test_maintenance_takes_only_on_off_or_status(config, capsys):
    assert deploy_helper.main(["maintenance", "/etc/passwd"], config) == 2


def test_install_site_installs_and_reloads(config, tmp_path):
    assert deploy_helper.install_site(config, SITE.encode()) == "installed"
    path = tmp_path / "sites-enabled" / "acme_shop.conf"
    assert path.read_bytes() == SITE.encode()
    assert path.stat().st_mode & 0o7777 == 0o644
    assert config.run.calls == [["/usr/sbin/nginx", "-t"], ["/usr/sbin/nginx", "-s", "reload"]]


def test_install_site_reloads_through_systemd_when_it_runs(config, tmp_path):
    (tmp_path / "no-systemd").mkdir()
    deploy_helper.install_site(config, SITE.encode())
    assert config.run.calls[-1] == ["/usr/bin/systemctl", "reload", "nginx"]


def test_an_unchanged_site_is_not_reloaded(config, tmp_path):
    (tmp_path / "sites-enabled" / "acme_shop.conf").write_bytes(SITE.encode())
    assert deploy_helper.install_site(config, SITE.encode()) == "unchanged"
    assert config.run.calls == []


NGINX_T = ("/usr/sbin/nginx", "-t")
NGINX_SAYS = 'nginx: [emerg] unknown "foo" variable\nnginx: configuration file test failed\n'


def test_a_site_nginx_refuses_gives_the_old_one_back(config, tmp_path):
    path = tmp_path / "sites-enabled" / "acme_shop.conf"
    old = b"# the previous site\r\nserver { listen 80; }\n"
    path.write_bytes(old)
    config = with_runner(config, {NGINX_T: (1, "", NGINX_SAYS)})
    with pytest.raises(deploy_helper.Refused) as refused:
        deploy_helper.install_site(config, SITE.encode())
    assert 'nginx: [emerg] unknown "foo" variable | nginx: configuration' in str(refused.value)
    assert path.read_bytes() == old
    assert config.run.calls == [list(NGINX_T)]
    assert os.listdir(path.parent) == [path.name]


def test_a_first_site_nginx_refuses_leaves_no_file(config, tmp_path):
    config = with_runner(config, {NGINX_T: (1, "", NGINX_SAYS)})
    with pytest.raises(deploy_helper.Refused, match="nginx -t refused the site"):
        deploy_helper.install_site(config, SITE.encode())
    assert os.listdir(tmp_path / "sites-enabled") == []


def test_prune_logs_removes_older_releases_only_and_follows_no_link(config, tmp_path):
    logs = tmp_path / "log"
    logs.mkdir()
    outside = tmp_path / "precious"
    outside.write_text("keep me")
    (logs / "web-20200101T000000Z.log").symlink_to(outside)
    for name in [
        "worker-20250101T000000Z.log",
        "worker-20250101T000000Z.log.3",
        f"web-{R}.log",
        f"web-{OTHER_RELEASE}.log",
        "notes-20200101T000000Z.txt",
        "Web-20200101T000000Z.log",
    ]:
        (logs / name).write_text("log")
    (logs / "web-20200102T000000Z.log").mkdir()
    config = dataclasses.replace(config, log_dir=str(logs))
    assert deploy_helper.prune_logs(config, R) == [
        "web-20200101T000000Z.log",
        "worker-20250101T000000Z.log",
        "worker-20250101T000000Z.log.3",
    ]
    assert outside.read_text() == "keep me"
    assert not os.path.lexists(logs / "web-20200101T000000Z.log")
    assert sorted(os.listdir(logs)) == [
        "Web-20200101T000000Z.log",
        "notes-20200101T000000Z.txt",
        "web-20200102T000000Z.log",
        f"web-{R}.log",
        f"web-{OTHER_RELEASE}.log",
    ]
    assert config.run.calls == []


STATUS = (
    f"acme_shop-{R}:acme_shop-web-{R}   RUNNING   pid 12, uptime 0:01:00\n"
    f"acme_shop-{R}:acme_shop-worker-{R}   STOPPED   Nov 27 10:15 AM\n"
    "other-20261127T101500Z:other-web-20261127T101500Z   RUNNING   pid 13\n"
    "acme_shop_two-x:y   RUNNING   pid 14\n"
)


def test_status_without_a_program_shows_only_this_projects(config, capsys):
    config = with_runner(config, {(CTL, "status"): (3, STATUS, "")})
    assert deploy_helper.main(["status"], config) == 0
    assert capsys.readouterr().out == "".join(STATUS.splitlines(keepends=True)[:2])


def test_status_of_a_stopped_program_prints_it_and_succeeds(config, capsys):
    program = f"acme_shop-{R}:acme_shop-worker-{R}"
    line = f"{program}   STOPPED   Nov 27 10:15 AM\n"
    config = with_runner(config, {(CTL, "status", program): (3, line, "")})
    assert deploy_helper.main(["status", program], config) == 0
    assert capsys.readouterr().out == line


@pytest.mark.parametrize(
    "program",
    [
        f"acme_shop-{R}:other-web-{R}",
        f"acme_shop-{R}:acme_shop-web-{OTHER_RELEASE}",
        f"acme_shop-{R}:*",
        f"acme_shop-{R}:acme_shop-web-{R} all",
        "all",
    ],
)
def test_status_refuses_other_programs(config, capsys, program):
    assert deploy_helper.main(["status", program], config) == 1
    assert "is not a program like acme_shop-RELEASE:NAME" in capsys.readouterr().err
    assert config.run.calls == []


def test_releases_are_those_with_a_config_or_loaded_programs(config, tmp_path, capsys):
    # OTHER_RELEASE: config removed, programs still loaded; R: config only; not this project's.
    (tmp_path / "conf.d" / f"acme_shop-{R}.conf").write_text(PROGRAMS)
    (tmp_path / "conf.d" / "acme_shop-notes.conf").write_text("")
    (tmp_path / "conf.d" / f"other-{R}.conf").write_text("")
    loaded = (
        f"acme_shop-{OTHER_RELEASE}:acme_shop-web-{OTHER_RELEASE}   RUNNING   pid 12\n"
        f"other-{OTHER_RELEASE}:other-web-{OTHER_RELEASE}   RUNNING   pid 13\n"
    )
    config = with_runner(config, {(CTL, "status"): (3, loaded, "")})
    assert deploy_helper.main(["releases"], config) == 0
    assert capsys.readouterr().out.split() == sorted([R, OTHER_RELEASE])


def test_releases_reports_a_supervisor_that_does_not_answer(config, capsys):
    config = with_runner(
        config, {(CTL, "status"): (7, "", "unix:///run/supervisor.sock no such file")}
    )
    assert deploy_helper.main(["releases"], config) == 1
    assert "no such file" in capsys.readouterr().err


# The command line ----------------------------------------------------------------------


def test_main_installs_programs_from_stdin(config, tmp_path, capsys):
    stdin = io.BytesIO(PROGRAMS.encode())
    assert deploy_helper.main(["install-programs", R], config, stdin) == 0
    assert (tmp_path / "conf.d" / f"acme_shop-{R}.conf").read_text() == PROGRAMS


def test_main_reports_a_refusal_on_one_line_and_exits_1(config, tmp_path, capsys):
    stdin = io.BytesIO(PROGRAMS.replace("user=acme_shop", "user=root").encode())
    assert deploy_helper.main(["install-programs", R], config, stdin) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"deploy_helper: [program:acme_shop-web-{R}] user='root'")
    assert err.count("\n") == 1
    assert os.listdir(tmp_path / "conf.d") == []


@pytest.mark.parametrize("release", ["../x", f"{R}/../x"])
def test_main_refuses_a_bad_release_argument(config, capsys, release):
    assert deploy_helper.main(["install-programs", release], config, io.BytesIO(b"")) == 1
    assert f"release {release!r} is not a release name" in capsys.readouterr().err


def test_main_prints_the_nginx_failure_on_one_line(config, capsys):
    config = with_runner(config, {NGINX_T: (1, "", NGINX_SAYS)})
    assert deploy_helper.main(["install-site"], config, io.BytesIO(SITE.encode())) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "configuration file test failed" in err


def test_main_refuses_too_much_stdin(config, capsys):
    stdin = io.BytesIO(b"#" * (deploy_helper.STDIN_LIMIT + 1))
    assert deploy_helper.main(["install-site"], config, stdin) == 1
    assert "stdin is larger than" in capsys.readouterr().err


def test_main_refuses_stdin_that_is_not_utf8(config, capsys):
    assert deploy_helper.main(["install-site"], config, io.BytesIO(b"\xff")) == 1
    assert "the nginx site is not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["install-programs"], ["status", "a", "b"], ["install-site", "x"]],
)
def test_usage_errors_exit_2(config, capsys, argv):
    assert deploy_helper.main(argv, config) == 2
    assert "usage: deploy_helper" in capsys.readouterr().err
    assert config.run.calls == []


LAYOUT = {
    "project": "acme_shop",
    "app_user": "acme_shop",
    "root": "/srv/acme_shop",
    "log_dir": "/var/log/acme_shop",
    "runtime_dir": "/run/acme_shop",
    "media_root": "/var/lib/acme_shop/media",
    "supervisor_conf_dir": "/etc/supervisor/conf.d",
    "nginx_site": "/etc/nginx/sites-enabled/acme_shop.conf",
    "nginx_include_dir": "/etc/nginx/acme_shop",
}


def test_the_configuration_is_read_from_json(tmp_path):
    path = tmp_path / "deploy_helper.json"
    path.write_text(json.dumps(LAYOUT))
    config = deploy_helper.load_config(path)
    assert config.root == "/srv/acme_shop"
    assert config.run is deploy_helper.run_command
    assert config.systemd_dir == "/run/systemd/system"


@pytest.mark.parametrize(
    "change",
    [{"root": "srv/acme_shop"}, {"project": "Acme"}, {"run": "/bin/sh"}, {"log_dir": 1}],
    ids=["relative path", "bad project", "extra key", "not a string"],
)
def test_a_bad_configuration_is_refused(tmp_path, change):
    path = tmp_path / "deploy_helper.json"
    path.write_text(json.dumps(LAYOUT | change))
    with pytest.raises(deploy_helper.Refused, match="must set exactly project, app_user"):
        deploy_helper.load_config(path)


def test_the_configuration_is_next_to_the_helper_and_nowhere_else(monkeypatch, tmp_path):
    monkeypatch.setattr(deploy_helper, "__file__", str(tmp_path / "deploy_helper.py"))
    with pytest.raises(
        deploy_helper.Refused, match=re.escape(str(tmp_path / "deploy_helper.json"))
    ):
        deploy_helper.load_config()
