"""Running the project's own commands and settings in a separate interpreter."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Variables that select or configure an environment; each test states its own.
SETTINGS_VARIABLES = ("DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def clean_environ(**overrides):
    """This process's environment without settings variables, plus ``overrides``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_VARIABLES)}
    # The virtualenv's tools (pip-compile, ruff) must be found by subprocesses.
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    environ.update(overrides)
    return environ


def manage(*args, **environ):
    """Run ./manage with the given arguments; return the completed process."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "manage"), *args],
        cwd=PROJECT_ROOT,
        env=clean_environ(**environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def deployment_environ(**overrides):
    """Everything the deployment settings require, with realistic values."""
    return {
        "DJANGO_ENV": "deployment",
        "DJANGO_SECRET_KEY": "x7#Lq2-v0Rz$kP9m!Wd4^Tn8@Hc1&Yb6*Ge3(Js5)Fa0_Ku2+Mo7=Ni4%Uh9",
        "DJANGO_ALLOWED_HOSTS": "example.com,www.example.com",
        "DATABASE_URL": "postgres://app:secret@127.0.0.1:5432/app",
        "REDIS_URL": "redis://:secret@127.0.0.1:6379/0",
        "CELERY_BROKER_URL": "amqp://app:secret@127.0.0.1:5672/app",
        **overrides,
    }


def script(path: str):
    """The project's script at ``path`` (no package's module), imported from its file."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, PROJECT_ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeRunner:
    """A fake of a server program's command runner (its Config.run) that records each command.

    It answers from ``results``: per argv, (returncode, stdout, stderr) or a
    callable of the argv returning one; 0 with no output otherwise.
    """

    def __init__(self, results=None):
        self.calls = []
        # The extra environment of each call that had one, by its index in calls.
        self.envs = {}
        self.results = results or {}

    def __call__(self, args, env=None):
        if env is not None:
            self.envs[len(self.calls)] = env
        self.calls.append(args)
        answer = self.results.get(tuple(args), (0, "", ""))
        returncode, stdout, stderr = answer(args) if callable(answer) else answer
        return subprocess.CompletedProcess(args, returncode, stdout, stderr)
