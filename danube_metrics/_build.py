"""cffi build script (out-of-line API mode): declares the ``danube_metrics._native`` module.

The C sources are picked per platform here and nowhere else; the declarations below are the
same on every platform.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"

HEADER = CSRC / "common" / "danube_metrics.h"


def cdef_from_header(text: str) -> str:
    """The public header as cffi declarations: comments, include guards, the C++ wrapper and
    #includes dropped, and each `#define NAME (value)` kept as a plain integer constant, so the
    API is declared in one place only."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"#ifdef __cplusplus.*?#endif", "", text, flags=re.S)
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            m = re.match(r"#define\s+(DM_\w+)\s+\(?(-?\d+)u?\)?\s*$", stripped)
            if m:
                out.append(f"#define {m.group(1)} {m.group(2)}")
            continue
        out.append(line)
    return "\n".join(out)


CDEF = cdef_from_header(HEADER.read_text(encoding="utf-8"))


def _platform() -> str:
    """The backend folder under csrc/ for the platform being built for."""
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "darwin"
    if sys.platform == "win32":
        return "windows"
    raise RuntimeError(
        f"danube-metrics has no C backend for {sys.platform!r} (Linux, macOS and Windows only)"
    )


def _sources(platform: str) -> list[str]:
    common = sorted(str(p.relative_to(ROOT)) for p in (CSRC / "common").glob("*.c"))
    backend = sorted(str(p.relative_to(ROOT)) for p in (CSRC / platform).glob("*.c"))
    return common + backend


def _msvc() -> bool:
    """Windows builds use MSVC (what CPython is built with) unless Python itself was built by
    MinGW (MSYS2), whose compiler takes GCC flags."""
    return sys.platform == "win32" and "GCC" not in sys.version


def _build_options(platform: str) -> dict[str, list[str]]:
    """Compiler flags and libraries per platform (setuptools passes them through)."""
    if _msvc():
        # /std:c11 needs Visual Studio 2019 16.8 or later; setuptools adds /O2 itself.
        return {
            "extra_compile_args": ["/std:c11"],
            "libraries": ["pdh", "iphlpapi"],
            "extra_link_args": [],
        }
    options: dict[str, list[str]] = {
        "extra_compile_args": ["-std=c11", "-O2", "-Wall", "-Wextra"],
        "libraries": [],
        "extra_link_args": [],
    }
    if platform == "linux":
        # The monitor's lock is a pthread mutex (in libpthread before glibc 2.34).
        options["libraries"] = ["m"]
        options["extra_compile_args"].append("-pthread")
        options["extra_link_args"] = ["-pthread"]
    elif platform == "darwin":
        # Disk statistics come from IOKit; libm and the Mach calls are in libSystem.
        options["extra_link_args"] = ["-framework", "IOKit", "-framework", "CoreFoundation"]
    elif platform == "windows":
        options["libraries"] = ["pdh", "iphlpapi"]
    return options


PLATFORM = _platform()

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "danube_metrics._native",
    '#include "danube_metrics.h"',
    sources=_sources(PLATFORM),
    include_dirs=[str((CSRC / "common").relative_to(ROOT))],
    **_build_options(PLATFORM),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
