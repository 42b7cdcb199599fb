"""How the C core is built: its sources, include folders and flags per platform, described once.

Standard library only (no cffi), so that everything that compiles the core reads it alike: the
cffi build (danube_metrics/_build.py), the tests, the benchmarks and the cross-check tools. From
Python, load it by path (``load()`` in tests/conftest.py); from a shell::

    python3 csrc/build.py sources [--platform P] [--part core|backend|pure]   # a path a line
    python3 csrc/build.py cflags  [--platform P] [--strict]   # GCC/clang flags, one a line
    python3 csrc/build.py libs    [--platform P]              # -l and -framework flags

Paths are relative to the repository root when printed, absolute from the functions.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

CSRC = Path(__file__).resolve().parent
REPO = CSRC.parent
PLATFORMS = ("linux", "darwin", "windows")

#: The public API: the header the extension and every C program include.
PUBLIC_HEADER = CSRC / "include" / "danube_metrics.h"
#: The internal declarations the test build exposes to Python (parsers and rate arithmetic),
#: in the order cffi must read them.
INTERNAL_HEADERS = (CSRC / "common" / "dm_types.h", CSRC / "linux" / "dm_parse.h")
#: The pure part of the core (no I/O, no locks): what the internal headers declare, and the
#: cluster path's readers (plain reports, base64).
PURE_SOURCES = (
    CSRC / "common" / "dm_rate.c",
    CSRC / "common" / "dm_iface_list.c",
    CSRC / "common" / "dm_report_json.c",
    CSRC / "common" / "dm_base64.c",
    CSRC / "linux" / "dm_proc_parse.c",
    CSRC / "linux" / "dm_cgroup_parse.c",
    CSRC / "linux" / "dm_pressure_parse.c",
)


def current_platform(sys_platform: str = sys.platform) -> str:
    """The backend folder under csrc/ for a Python ``sys.platform`` value."""
    if sys_platform.startswith("linux"):
        return "linux"
    if sys_platform == "darwin":
        return "darwin"
    if sys_platform == "win32":
        return "windows"
    raise RuntimeError(
        f"danube-metrics has no C backend for {sys_platform!r} (Linux, macOS and Windows only)"
    )


PARTS = ("core", "backend", "pure")


def sources(platform: str, part: str = "core") -> list[Path]:
    """The C files of `part`: "core" is the whole library for `platform` (the common layer and
    that platform's backend), "backend" that platform's folder alone, "pure" the parsers and
    the rate arithmetic (no I/O, no locks)."""
    if part == "pure":
        return list(PURE_SOURCES)
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r} ({', '.join(PARTS)})")
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r} ({', '.join(PLATFORMS)})")
    backend = sorted((CSRC / platform).glob("*.c"))
    return backend if part == "backend" else sorted((CSRC / "common").glob("*.c")) + backend


def include_dirs(platform: str) -> list[Path]:
    """The folders the core's files include from (its public, common and platform headers)."""
    return [CSRC / "include", CSRC / "common", CSRC / platform]


def compile_args(platform: str, msvc: bool = False, strict: bool = False) -> list[str]:
    """Compiler flags for the core (without include folders). `strict` adds -Werror, which the
    tests and tools use; released builds leave it out so a newer compiler's new warning does
    not break a user's install."""
    if msvc:
        return ["/std:c11"]  # Visual Studio 2019 16.8 or later; setuptools adds /O2 itself
    args = ["-std=c11", "-O2", "-Wall", "-Wextra"]
    if strict:
        args.append("-Werror")
    if platform == "linux":
        args.append("-pthread")  # the monitor's lock is a pthread mutex
    return args


def libraries(platform: str) -> list[str]:
    """Libraries to link, by name (-l)."""
    if platform == "linux":
        return ["m"]
    if platform == "windows":
        return ["iphlpapi"]  # GetIfEntry2, GetIfTable2
    return []  # macOS: libm and the Mach calls are in libSystem


def link_args(platform: str, msvc: bool = False) -> list[str]:
    """Linker flags beyond the libraries."""
    if msvc:
        return []
    if platform == "linux":
        return ["-pthread"]  # libpthread before glibc 2.34
    if platform == "darwin":
        return ["-framework", "IOKit", "-framework", "CoreFoundation"]  # disk statistics
    return []


def cflags(platform: str, strict: bool = True) -> list[str]:
    """GCC/clang flags for compiling any file against the core: includes and compile args."""
    return [f"-I{d}" for d in include_dirs(platform)] + compile_args(platform, strict=strict)


def libs(platform: str) -> list[str]:
    """GCC/clang flags for linking a program with the core."""
    return [f"-l{name}" for name in libraries(platform)] + link_args(platform)


def cdef_from_headers(*headers: Path, constants_only: bool = False) -> str:
    """C headers as cffi declarations: comments, include guards, the C++ wrapper and #includes
    dropped, and each `#define NAME (value)` kept as a plain integer constant, so that the
    declarations live only in the headers. `constants_only` keeps the constants alone."""
    parts = []
    for header in headers:
        text = header.read_text(encoding="utf-8")
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        text = re.sub(r"#ifdef __cplusplus.*?#endif", "", text, flags=re.S)
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                m = re.match(r"#define\s+(DM_\w+)\s+\(?(-?\d+)u?\)?\s*$", stripped)
                if m:
                    parts.append(f"#define {m.group(1)} {m.group(2)}")
                continue
            if not constants_only:
                parts.append(line)
    return "\n".join(parts)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The C core's build description.")
    parser.add_argument("what", choices=["sources", "cflags", "libs"])
    parser.add_argument("--platform", choices=PLATFORMS, default=None)
    parser.add_argument("--part", choices=PARTS, default="core")
    parser.add_argument("--strict", action="store_true", help="warnings are errors")
    args = parser.parse_args(argv)
    platform = args.platform or current_platform()
    if args.what == "sources":
        print("\n".join(_relative(p) for p in sources(platform, args.part)))
    elif args.what == "cflags":
        flags = [f"-I{_relative(d)}" for d in include_dirs(platform)]
        print("\n".join(flags + compile_args(platform, strict=args.strict)))
    else:
        print("\n".join(libs(platform)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
