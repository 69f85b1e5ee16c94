"""fixrefs refuses what it cannot do well, in one line, and touches nothing then."""

import importlib.machinery
import importlib.metadata
import importlib.util
import re
import shutil

import pytest
from conftest import PLACEHOLDER, PROJECT, TEMPLATE_ROOT, fixrefs, run, snapshot, template_files


def assert_refused(result, *words):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fixrefs: ")
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("1shop", "not a valid project name"),
        ("my-shop", "not a valid project name"),
        ("my shop", "not a valid project name"),
        ("class", "keyword"),
        ("django", "package the project depends on"),
        ("test", "existing Python module"),
        ("os", "existing Python module"),
        ("tests", "folder of the project"),
    ],
)
def test_an_unusable_name_is_refused_and_nothing_is_touched(fresh_project, name, reason):
    before = snapshot(fresh_project)
    assert_refused(fixrefs(fresh_project, name, check=False), f"'{name}'", reason)
    assert snapshot(fresh_project) == before


def test_a_name_other_than_the_packages_is_refused(fresh_project):
    before = snapshot(fresh_project)
    result = fixrefs(fresh_project, "other_shop", check=False)
    assert_refused(result, "'other_shop'", f"'{PROJECT}'", f"./fixrefs {PROJECT}")
    assert snapshot(fresh_project) == before


def test_with_no_name_it_takes_the_packages(fresh_project):
    result = fixrefs(fresh_project)
    assert "Next steps" in result.stdout
    assert f'"{PROJECT}.settings"' in (fresh_project / "manage").read_text()
    assert PLACEHOLDER not in (fresh_project / "Makefile").read_text()


def test_running_it_twice_is_harmless(fresh_project, tmp_path):
    kept = tmp_path / "fixrefs-copy"
    shutil.copy2(fresh_project / "fixrefs", kept)
    fixrefs(fresh_project, PROJECT)
    assert not (fresh_project / "fixrefs").exists()
    after_first = snapshot(fresh_project)

    result = run(["python3", kept, PROJECT], cwd=fresh_project)
    assert "Nothing to do" in result.stdout
    assert snapshot(fresh_project) == after_first


def test_binary_files_are_never_rewritten(fresh_project):
    placeholder = PLACEHOLDER.encode()
    binary = b"\x89PNG\r\n\x1a\n\0" + placeholder + b"\xff\xfe"
    latin1 = b"caf\xe9 " + placeholder + b"\n"
    (fresh_project / "logo.png").write_bytes(binary)
    (fresh_project / "notes.txt").write_bytes(latin1)
    fixrefs(fresh_project, PROJECT)
    assert (fresh_project / "logo.png").read_bytes() == binary
    assert (fresh_project / "notes.txt").read_bytes() == latin1


def test_outside_any_project_it_refuses_and_touches_nothing(tmp_path):
    folder = tmp_path / "somewhere"
    folder.mkdir()
    shutil.copy2(TEMPLATE_ROOT / "fixrefs", folder / "fixrefs")
    (folder / "notes.txt").write_text(f"{PLACEHOLDER} stays as it is\n")
    before = snapshot(folder)
    assert_refused(fixrefs(folder, PROJECT, check=False), "no ./manage here")
    assert snapshot(folder) == before


def test_in_a_folder_without_a_project_package_it_refuses(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    shutil.copy2(TEMPLATE_ROOT / "fixrefs", folder / "fixrefs")
    (folder / "manage").write_text("#!/usr/bin/env python3\n")
    before = snapshot(folder)
    assert_refused(fixrefs(folder, check=False), "no project package")
    assert snapshot(folder) == before


def test_in_the_template_itself_it_refuses(tmp_path):
    copy = tmp_path / "template"
    for name in template_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE_ROOT / name, copy / name)
    before = snapshot(copy)
    assert_refused(fixrefs(copy, PROJECT, check=False), "the template itself")
    assert snapshot(copy) == before


def test_help_and_wrong_usage(fresh_project):
    assert "Usage" in fixrefs(fresh_project, "--help").stdout
    assert fixrefs(fresh_project, "a", "b", check=False).returncode == 2


def load_fixrefs():
    loader = importlib.machinery.SourceFileLoader("fixrefs", str(TEMPLATE_ROOT / "fixrefs"))
    spec = importlib.util.spec_from_loader("fixrefs", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_every_module_the_locks_install_is_a_reserved_name():
    """Names of what the project installs are refused even where it is not installed.

    The template's virtualenv holds every package of the locks (development.txt
    has them all), so each one's top-level modules can be looked up here.
    """
    module = load_fixrefs()
    providers = importlib.metadata.packages_distributions()
    locked = {
        re.sub(r"[-_.]+", "-", package).lower()
        for lock in (TEMPLATE_ROOT / "requirements").glob("*.txt")
        for package in module.LOCKED.findall(lock.read_text())
    }
    reserved = module.requirement_modules(TEMPLATE_ROOT)
    installed = {
        re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        for dist in importlib.metadata.distributions()
    }
    assert locked <= installed, f"not installed here, so not checked: {locked - installed}"
    for module_name, distributions in providers.items():
        # Private and compiled helpers (_cffi_backend, x__mypyc): no one picks such a name.
        if not module.VALID_NAME.match(module_name) or "__" in module_name:
            continue
        if any(re.sub(r"[-_.]+", "-", d).lower() in locked for d in distributions):
            assert module_name in reserved, f"add {module_name!r} to IMPORT_NAMES in fixrefs"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("root", "system account"),
        ("postgres", "system account"),
        ("www_data", None),
        ("kombu", "package the project depends on"),
        ("click", "package the project depends on"),
        ("invoke", "package the project depends on"),
        ("yaml", "package the project depends on"),
        ("Shop", "not a valid project name"),
        ("café", "not a valid project name"),
        ("a" * 33, "longer than 32 characters"),
    ],
)
def test_names_that_break_the_server_or_hide_a_library_are_refused(name, reason):
    problem = load_fixrefs().name_problem(name, TEMPLATE_ROOT)
    if reason is None:
        assert problem is None  # www-data is the account; www_data is a fine name
    else:
        assert problem and reason in problem, problem
