"""The package as it is shipped: its public names, running from a clone, the sdist.

- Every public module (no leading underscore) declares ``__all__``, and each name in it
  exists; every exception class the package defines can be imported from ``danube_metrics``.
  Modules and exceptions are discovered, not listed, so that new ones are checked too.
- From a clone's root, ``python -m danube_metrics`` runs where the C core is built in place
  (an editable install), and otherwise says what to do instead of a traceback.
- The sdist ships the clone but its CI files (so every file the shipped tests read) and no
  built file; its tests import and run from it; it builds a wheel whose metadata names the
  license (PEP 639). The build runs without isolation, from this environment's setuptools.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Optional

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


# --- the sdist -----------------------------------------------------------------------------------

# What the sdist leaves out of a clone, on purpose: CI's own configuration.
NOT_SHIPPED = (".ci/", ".github/", ".gitignore")
# Never in an sdist: what a build or a test run leaves in the tree.
BUILT = re.compile(r"(\.so|\.pyd|\.dylib|\.o|\.py[cod]|/_native\.c)$|(^|/)__pycache__/")
# Left out of the copy that the sdist is built from: not part of a clone (virtual environments,
# caches, earlier build output). A built extension and generated C stay, so that their
# exclusion from the sdist is checked.
SCRATCH = (
    ".git", ".venv", "build", "dist", "*.egg-info", ".hypothesis", ".pytest_cache",
    ".mypy_cache", ".ruff_cache",
)  # fmt: skip


# Some of the files the shipped tests read, outside tests/ too: the test extension and the C
# harnesses build from csrc/, the allocation counter is a benchmark's, the README's examples run.
READ_BY_THE_TESTS = (
    "tests/conftest.py",
    "tests/golden/seed.json",
    "tests/c/sample_main.c",
    "tests/fuzz/fuzz_open.c",
    "csrc/build.py",
    "benchmarks/alloc_count.c",
    "README.md",
    "LICENSE",
)


def clone_files() -> list[str]:
    """The files of this clone (tracked, or untracked and not ignored; relative paths)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout (an unpacked sdist): every file but scratch and built ones.
        found = []
        for path in REPO.rglob("*"):
            rel = path.relative_to(REPO).as_posix()
            parts = rel.split("/")
            scratch = any(any(Path(p).match(pat) for pat in SCRATCH) for p in parts)
            if path.is_file() and not scratch and not BUILT.search(rel):
                found.append(rel)
        return sorted(found)
    paths = (p for p in listed.decode().split("\0") if p)
    return sorted(p for p in paths if (REPO / p).is_file())


def build_requirements_missing() -> Optional[str]:
    """Why this environment cannot build without isolation, or None."""
    try:
        import build  # noqa: F401
        from packaging.requirements import Requirement
    except ImportError:
        return "the build front end is not installed (pip install '.[test]')"
    from importlib.metadata import PackageNotFoundError, version

    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    requires = re.search(r"^requires = \[(.*)\]$", text, re.MULTILINE)
    assert requires, "pyproject.toml has no build-system requires line"
    for item in re.findall(r'"([^"]+)"', requires.group(1)):
        req = Requirement(item)
        try:
            have = version(req.name)
        except PackageNotFoundError:
            have = None
        if have is None or not req.specifier.contains(have, prereleases=True):
            return f"the build needs {item}, this environment has {have} (pip install '.[test]')"
    return None


@pytest.fixture(scope="module")
def unpacked_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist built from a copy of this clone, unpacked (built once for this module)."""
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip(f"{REPO} is not a source tree")
    missing = build_requirements_missing()
    if missing:
        pytest.skip(missing)
    work = tmp_path_factory.mktemp("sdist")
    src = work / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*SCRATCH, "__pycache__"))
    r = run_python(
        "-m", "build", "--sdist", "--no-isolation", "--outdir", str(work / "dist"), str(src)
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (archive,) = (work / "dist").glob("danube_metrics-*.tar.gz")
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert all(m.isfile() or m.isdir() for m in members), "links in the sdist"
        if hasattr(tarfile, "data_filter"):  # Python >= 3.12 and the 3.9-3.11 backports
            tar.extractall(work / "unpacked", filter="data")
        else:
            tar.extractall(work / "unpacked")
    (top,) = (work / "unpacked").iterdir()
    return top


def sdist_files(top: Path) -> set[str]:
    return {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}


def test_the_sdist_ships_the_clone_but_its_ci_files(unpacked_sdist: Path) -> None:
    shipped = sdist_files(unpacked_sdist)
    wanted = [f for f in clone_files() if not f.startswith(NOT_SHIPPED) and not BUILT.search(f)]
    for needed in READ_BY_THE_TESTS:
        assert needed in wanted, f"{needed} is not in the clone"
    missing = sorted(set(wanted) - shipped)
    assert not missing, f"the sdist lacks {len(missing)} files of the clone: {missing[:20]}"
    built = sorted(f for f in shipped if BUILT.search(f))
    assert not built, f"the sdist ships built files: {built}"
    # Its scripts stay executable.
    assert os.access(unpacked_sdist / "tools" / "check-wheel", os.X_OK)


def test_the_shipped_tests_import_from_the_unpacked_sdist(unpacked_sdist: Path) -> None:
    # Every test module imports (conftest, helpers, the test extension's sources), and tests
    # that read fixture trees and golden files pass there, against the installed package.
    tests = unpacked_sdist / "tests"
    pytest_args = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly")
    r = run_python(*pytest_args, "--collect-only", str(tests))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    collected = re.search(r"(\d+) tests? collected", r.stdout)
    assert collected and int(collected.group(1)) > 100, r.stdout[-500:]
    data_tests = [str(tests / name) for name in ("test_host_fixtures.py", "test_report.py")]
    r = run_python(*pytest_args, "-x", *data_tests)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_the_unpacked_sdist_builds_a_wheel_that_names_its_license(
    unpacked_sdist: Path, tmp_path: Path
) -> None:
    r = run_python(
        "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", str(tmp_path), str(unpacked_sdist),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = tmp_path.glob("danube_metrics-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        headers = whl.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    assert "License-Expression: Apache-2.0" in headers, headers
    assert "License-File: LICENSE" in headers, headers
    # PEP 639: an expression and a License classifier are not given together.
    assert not [h for h in headers if h.startswith("Classifier: License")], headers
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert any(re.fullmatch(r"danube_metrics/_native\..*(so|pyd)", n) for n in names), names
    assert not any(n.startswith(("tests/", "csrc/")) for n in names), names


def test_the_license_file_is_the_apache_license() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 10_000
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "Apache-2\.0"$', pyproject, re.MULTILINE)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, re.MULTILINE)


def test_setuptools_is_bounded_alike_for_the_build_and_the_tests() -> None:
    # The packaging tests build without isolation, with the test extras' setuptools: it must be
    # the range the build asks for, and that range has an upper bound.
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    ranges = set(re.findall(r'"setuptools([<>=!~][^"]*)"', pyproject))
    assert len(ranges) == 1, f"setuptools is required differently: {sorted(ranges)}"
    (spec,) = ranges
    assert re.fullmatch(r">=77(\.\d+)*,<\d+", spec), spec
