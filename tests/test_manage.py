"""./manage as people use it."""

from .helpers import deployment_environ, manage


def test_check_passes():
    result = manage("check")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_has_no_warning_under_deployment_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **deployment_environ())
    assert result.returncode == 0, result.stderr
    # HSTS starts without subdomains and preload, which check --deploy asks for.
    assert "System check identified no issues (2 silenced)." in result.stdout
    raised = deployment_environ(
        DJANGO_SECURE_HSTS_SECONDS="31536000",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        DJANGO_SECURE_HSTS_PRELOAD="true",
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", **raised)
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_runserver_plus_and_shell_plus_are_there_in_development():
    assert manage("help", "runserver_plus").returncode == 0
    result = manage("shell_plus", "--quiet-load", "--command", "print(User._meta.label)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "users.User"
