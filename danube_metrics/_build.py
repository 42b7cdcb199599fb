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


def _platform_dir() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    raise RuntimeError(
        f"danube-metrics has no C backend for {sys.platform!r} yet (Linux only for now)"
    )


def _sources() -> list[str]:
    common = sorted(str(p.relative_to(ROOT)) for p in (CSRC / "common").glob("*.c"))
    platform = sorted(str(p.relative_to(ROOT)) for p in (CSRC / _platform_dir()).glob("*.c"))
    return common + platform


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "danube_metrics._native",
    '#include "danube_metrics.h"',
    sources=_sources(),
    include_dirs=[str((CSRC / "common").relative_to(ROOT))],
    extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra"] if sys.platform != "win32" else [],
    libraries=["m"] if sys.platform.startswith("linux") else [],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
