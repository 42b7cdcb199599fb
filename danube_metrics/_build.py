"""cffi build script (out-of-line API mode): declares the ``danube_metrics._native`` module.

What is compiled, and how, is csrc/build.py's to say (the one description of the C build);
this file only hands it to cffi, declaring the public header and nothing else.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent


def _load_build_description() -> ModuleType:
    """csrc/build.py, loaded by path: setuptools runs this file outside the package."""
    spec = importlib.util.spec_from_file_location("danube_metrics_cbuild", ROOT / "csrc/build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and the like look modules up by name
    spec.loader.exec_module(module)
    return module


cbuild = _load_build_description()
PLATFORM: str = cbuild.current_platform()
# Windows builds use MSVC (what CPython is built with) unless Python itself was built by MinGW
# (MSYS2), whose compiler takes GCC flags.
MSVC = sys.platform == "win32" and "GCC" not in sys.version


def _relative(paths: list[Path]) -> list[str]:
    # setuptools wants paths relative to the project root.
    return [str(p.relative_to(ROOT)) for p in paths]


ffibuilder = FFI()
ffibuilder.cdef(cbuild.cdef_from_headers(cbuild.PUBLIC_HEADER))
ffibuilder.set_source(
    "danube_metrics._native",
    '#include "danube_metrics.h"',
    sources=_relative(cbuild.sources(PLATFORM)),
    include_dirs=_relative(cbuild.include_dirs(PLATFORM)),
    extra_compile_args=cbuild.compile_args(PLATFORM, msvc=MSVC),
    libraries=cbuild.libraries(PLATFORM),
    extra_link_args=cbuild.link_args(PLATFORM, msvc=MSVC),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
