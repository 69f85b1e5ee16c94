"""The .txt locks must be what pip-compile makes of the .in files."""

import subprocess

from .helpers import PROJECT_ROOT, clean_environ


def test_every_lock_is_up_to_date_with_its_in_file():
    result = subprocess.run(
        [str(PROJECT_ROOT / "requirements" / "compile"), "--check"],
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_locks_are_complete_and_hashed():
    for lock in ("base", "development", "deployment"):
        text = (PROJECT_ROOT / "requirements" / f"{lock}.txt").read_text()
        lines = [line.strip() for line in text.splitlines()]
        # Complete: no lock pulls in another file.
        assert not [line for line in lines if line.startswith(("-r", "-c"))], lock
        pins = [line for line in lines if "==" in line and not line.startswith("#")]
        assert pins, lock
        assert all(line.endswith("\\") for line in pins), f"{lock}: a pin without hashes"
