"""The package as it is shipped: its public names.

- Every public module (no leading underscore) declares ``__all__``, and each name in it
  exists; every exception class the package defines can be imported from ``danube_metrics``.
  Modules and exceptions are discovered, not listed, so that new ones are checked too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest
from conftest import run_python

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
