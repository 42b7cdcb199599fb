"""The package as it is shipped: its public names, running from a clone, the sdist.

- Every public module (no leading underscore) declares ``__all__``, and each name in it
  exists; every exception class the package defines can be imported from ``danube_metrics``.
  Modules and exceptions are discovered, not listed, so that new ones are checked too.
- From a clone's root, ``python -m danube_metrics`` runs where the C core is built in place
  (an editable install), and otherwise says what to do instead of a traceback.
- The sdist carries every file the test suite it ships needs, no built file, and builds a
  wheel whose metadata names the license.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REPO, run_python

import danube_metrics

# Not imported here: cffi's builder (build-time glue) and __main__ (it runs the command line).
NOT_IMPORTED = {"_build", "__main__", "_native"}


def package_modules() -> list[str]:
    """The installed package's modules, e.g. "errors", "_binding" (not the extension)."""
    found = pkgutil.iter_modules(danube_metrics.__path__)
    return sorted(m.name for m in found if m.name not in NOT_IMPORTED)


PUBLIC_MODULES = [name for name in package_modules() if not name.startswith("_")]


def test_the_public_modules_are_discovered() -> None:
    # Guards the discovery itself: an empty list would make the checks below pass vacuously.
    assert {"errors", "report", "rankings", "monitor", "cli"} <= set(PUBLIC_MODULES)
    assert "_binding" in package_modules()


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_module_declares_all_and_each_name_exists(name: str) -> None:
    module = importlib.import_module(f"danube_metrics.{name}")
    assert "__all__" in vars(module), f"danube_metrics.{name} has no __all__"
    names = module.__all__
    assert isinstance(names, (list, tuple)) and names, f"{name}.__all__: {names!r}"
    assert all(isinstance(n, str) for n in names), names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"{name}.__all__ names twice: {duplicates}"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"danube_metrics.{name}.__all__ names what it lacks: {missing}"


def test_the_package_all_resolves() -> None:
    missing = [n for n in danube_metrics.__all__ if not hasattr(danube_metrics, n)]
    assert not missing, missing
    assert len(set(danube_metrics.__all__)) == len(danube_metrics.__all__)


def defined_exceptions() -> dict[str, tuple[type[BaseException], ModuleType]]:
    """Every public exception class defined in the package, by name, with its module."""
    found: dict[str, tuple[type[BaseException], ModuleType]] = {}
    for name in package_modules():
        module = importlib.import_module(f"danube_metrics.{name}")
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not attr.startswith("_")
            ):
                other = found.setdefault(attr, (value, module))[0]
                assert other is value, f"two exceptions named {attr}: {other} and {value}"
    return found


def test_every_exception_is_importable_from_the_package() -> None:
    found = defined_exceptions()
    # The discovery works: the base class and the rankings' own error are among them.
    assert {"DanubeMetricsError", "ReportFormatError", "NoEligibleBrokerError"} <= set(found)
    for name, (cls, module) in sorted(found.items()):
        assert getattr(danube_metrics, name, None) is cls, f"danube_metrics.{name} is missing"
        assert name in danube_metrics.__all__, f"{name} is not in danube_metrics.__all__"
        if not module.__name__.rsplit(".", 1)[1].startswith("_"):
            assert name in module.__all__, f"{name} is not in {module.__name__}.__all__"
        assert issubclass(cls, danube_metrics.DanubeMetricsError), (
            f"{name} does not derive from DanubeMetricsError"
        )


def test_star_imports_of_the_model_do_not_load_the_extension() -> None:
    # __all__ decides what `import *` takes: the model's must not pull in a measuring name.
    model = ("errors", "readings", "loads", "serde_json", "schemas", "report", "rankings")
    code = "\n".join(f"from danube_metrics.{m} import *" for m in model)
    code += "\nimport sys\nassert 'danube_metrics._native' not in sys.modules, 'loaded'\n"
    r = run_python("-c", code)
    assert r.returncode == 0, r.stderr


# --- running from a clone ------------------------------------------------------------------------

HINT = "pip install -e ."


def copy_of_the_tree(dest: Path) -> Path:
    """The source files a clone has (no built extension, no generated C), copied to dest."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.so", "*.pyd",
        "_native.c", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache",
    )  # fmt: skip
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("danube_metrics", "csrc"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


def test_python_m_from_a_clone_without_the_built_core_says_what_to_do(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    # -S: no site-packages, so that nothing installed (an editable install's finder) supplies
    # the core; what remains is this interpreter importing the tree from its working directory.
    r = run_python("-S", "-m", "danube_metrics", "--count", "1", cwd=tree)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("danube-metrics: error: "), r.stderr
    assert HINT in r.stderr and str(tree) in r.stderr, r.stderr
    # The same for a program that imports the tree and measures: an ImportError that says it.
    code = "import danube_metrics\ndanube_metrics.create_resource_monitor()"
    r = run_python("-S", "-c", code, cwd=tree)
    assert r.returncode == 1
    assert f"ImportError: danube_metrics was imported from the source tree in {tree}" in r.stderr
    assert HINT in r.stderr, r.stderr


def test_an_installed_package_without_its_core_keeps_the_plain_import_error(
    tmp_path: Path,
) -> None:
    # The hint is for a clone only: a package directory with no pyproject.toml and csrc/ beside
    # it (as installed) keeps Python's own error, which names the missing module.
    shutil.copytree(
        REPO / "danube_metrics", tmp_path / "danube_metrics",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"),
    )  # fmt: skip
    r = run_python("-S", "-m", "danube_metrics", "--count", "1", cwd=tmp_path)
    assert r.returncode == 1
    assert "No module named 'danube_metrics._native'" in r.stderr, r.stderr
    assert HINT not in r.stderr


def test_python_m_from_this_clone_runs_or_says_what_to_do() -> None:
    # From the root of the tree these tests come from: the README's first command (an editable
    # install) makes it run; a tree without the core built in place gets the hint instead.
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip(f"{REPO} is not a source tree")
    args = ("-m", "danube_metrics", "--count", "1", "--interval", "0.1")
    r = run_python(*args, cwd=REPO)
    probe = "import importlib.util as u; print(u.find_spec('danube_metrics._native') is not None)"
    has_core = run_python("-c", probe, cwd=REPO).stdout.strip() == "True"
    if has_core:
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("danube-metrics "), r.stdout
    else:
        assert r.returncode == 1 and HINT in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
