"""The template's own machinery follows the same style as the projects it makes."""

from conftest import TEMPLATE_ROOT, VENV_BIN, run


def test_ruff_passes_on_the_template_machinery():
    paths = ["fixrefs", "manage", ".template"]
    run([VENV_BIN / "ruff", "check", "--no-cache", *paths], cwd=TEMPLATE_ROOT)
    run([VENV_BIN / "ruff", "format", "--check", "--no-cache", *paths], cwd=TEMPLATE_ROOT)
