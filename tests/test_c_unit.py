"""The pure C (the parsers and the rate arithmetic: csrc/build.py's "pure" part) under its own
plain C unit test, tests/c/test_common.c, built with -Werror and, where the compiler has them,
the address and undefined-behaviour sanitizers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cbuild import CC, SANITIZE, cbuild
from conftest import REPO


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_common_c_unit_tests(tmp_path: Path) -> None:
    assert CC is not None
    sources = [str(p) for p in cbuild.sources("linux", "pure")]
    flags = [f for f in cbuild.cflags("linux") if f != "-O2"]
    base = [CC, *flags, str(REPO / "tests/c/test_common.c"), *sources, *cbuild.libs("linux")]
    exe = tmp_path / "test_common"
    built = subprocess.run([*base[:1], *SANITIZE, *base[1:], "-o", str(exe)], capture_output=True)
    if built.returncode != 0:  # no sanitizer runtime: a plain optimised build still tests
        subprocess.run([*base, "-O2", "-o", str(exe)], check=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().endswith(" passed, 0 failed")
