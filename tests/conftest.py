"""Shared test helpers: fixture trees copied to a temporary root, advanced in place."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

# A suite started from a background job (`cmd &` in a script, nohup) inherits SIGINT ignored,
# and so would every command a test starts: the tests that Ctrl-C one need it delivered.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent

# The monotonic time given to fixture monitors as their baseline, and one second.
T0 = 10**12
SECOND = 10**9


# Child Pythons start in a neutral directory: from the repository root, `python -c` and
# `python -m` would import the source tree (which has no compiled module) instead of the
# installed package.
NEUTRAL_CWD = tempfile.gettempdir()


def run_python(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Runs this interpreter with `args` from a neutral directory, capturing text output."""
    kwargs.setdefault("cwd", NEUTRAL_CWD)
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("timeout", 120)
    return subprocess.run([sys.executable, *args], **kwargs)


def assert_exact(r: Any, cpu: float, mem: float, disk: Any, net: Any) -> None:
    """A fixture tree's Readings, with no error, equal to the expected figures (to rounding)."""
    assert r.errors == {}
    assert r.cpu_percent == pytest.approx(cpu, rel=1e-12)
    assert r.memory_percent == pytest.approx(mem, rel=1e-12)
    assert r.disk == pytest.approx(disk, rel=1e-12)
    assert r.network == pytest.approx(net, rel=1e-12)


class FixtureTree:
    """A copy of tests/fixtures/<case> without its later/ snapshot, which advance() applies."""

    def __init__(self, case: str, dest: Path) -> None:
        self.source = FIXTURES / case
        self.root = dest / case
        shutil.copytree(self.source, self.root, ignore=shutil.ignore_patterns("later"))
        self.dropped: list[str] = []

    def without_device_files(self) -> FixtureTree:
        """Removes the per-device sysfs counters, so that the monitor reads /proc/diskstats
        and /proc/net/dev (the tests of those files' parsing and errors need this)."""
        for rel in ("sys/block", "sys/class"):
            shutil.rmtree(self.root / rel, ignore_errors=True)
            self.dropped.append(rel)
        return self

    def write(self, rel: str, text: str) -> None:
        # Rewritten in place (same inode): the monitor keeps its descriptors open.
        with open(self.root / rel, "w", encoding="utf-8") as f:
            f.write(text)

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def advance(self) -> None:
        """Applies the case's later/ snapshot of every file."""
        later = self.source / "later"
        for path in later.rglob("*"):
            rel = str(path.relative_to(later))
            if path.is_file() and not any(rel.startswith(d + "/") for d in self.dropped):
                self.write(rel, path.read_text(encoding="utf-8"))


@pytest.fixture
def tree_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(case: str) -> FixtureTree:
        return FixtureTree(case, tmp_path)

    return make
