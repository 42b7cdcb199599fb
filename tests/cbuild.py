"""csrc/build.py, the one description of the C build, for the tests (loaded by path: it is not
part of the installed package), and the compiler the tests build C programs with."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    name = "danube_metrics_cbuild"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "csrc" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


cbuild = _load()
CC = shutil.which("cc") or shutil.which("gcc")
#: The address and undefined-behaviour sanitizers, stopping at the first report.
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def core_command(*extra: str, platform: str = "linux") -> list[str]:
    """A compiler command that builds `extra` (a main program, -o ...) with the whole C core
    of `platform`, warnings as errors."""
    assert CC is not None, "no C compiler"
    sources = [str(p) for p in cbuild.sources(platform)]
    return [CC, *cbuild.cflags(platform), *extra, *sources, *cbuild.libs(platform)]
