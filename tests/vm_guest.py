"""The guest side of tests/vm.py: cgroups made, joined and namespaced inside the VM.

Runs in the guest as root, from the host's interpreter (standard library only). As a script
it runs one job (``vm_guest.py job.json``, written by tests/vm.py): makes the cgroups and
writes their files, moves itself into the job's cgroup, enters a cgroup namespace there if
asked, and execs the command. tests/vm_cgroup2_cases.py imports the same helpers to place
each of its cases.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from collections.abc import Mapping
from typing import Optional

CGROUP_MOUNT = "/sys/fs/cgroup"
CONTROLLERS = "+cpu +cpuset +io +memory +pids"

# unshare(2) and mount(2) flags (linux/sched.h, linux/mount.h).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2


def cgroup_dir(path: str) -> str:
    """The directory of the cgroup `path` ("/a/b") in the guest's initial cgroup2 mount."""
    return os.path.join(CGROUP_MOUNT, path.strip("/"))


def make_cgroup(path: str, files: Optional[Mapping[str, str]] = None) -> str:
    """Makes cgroup `path` and every level above it, each parent delegating the controllers
    to its children, then writes `files` (name to value) in the cgroup. Returns its directory."""
    current = CGROUP_MOUNT
    for part in [p for p in path.split("/") if p]:
        child = os.path.join(current, part)
        if not os.path.isdir(child):
            os.mkdir(child)
        # Only the root's subtree_control is set by /init; every level below delegates too.
        if current != CGROUP_MOUNT:
            write(os.path.join(current, "cgroup.subtree_control"), CONTROLLERS)
        current = child
    for name, value in (files or {}).items():
        write(os.path.join(current, name), value)
    return current


def write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def join_cgroup(path: str) -> None:
    """Moves the calling process into cgroup `path` ("0" in cgroup.procs means the writer)."""
    write(os.path.join(cgroup_dir(path), "cgroup.procs"), "0")


def enter_cgroup_namespace() -> None:
    """Gives the calling process new cgroup and mount namespaces and a cgroup2 mount of its
    own at /sys/fs/cgroup, whose root is its cgroup: a pod's view. Join the cgroup first (the
    namespace is rooted at the cgroup of the process that makes it). nsdelegate can only be
    given in the initial namespace."""
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    check(libc.unshare(CLONE_NEWCGROUP | CLONE_NEWNS), "unshare")
    # Private, so that the remount below does not reach the initial namespace's mounts.
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    mount = CGROUP_MOUNT.encode()
    check(libc.umount2(mount, MNT_DETACH), f"umount {CGROUP_MOUNT}")
    check(libc.mount(b"cgroup2", mount, b"cgroup2", 0, None), f"mount cgroup2 {CGROUP_MOUNT}")


def run_job(spec: Mapping[str, object]) -> None:
    """Places this process as the job says and execs its command (never returns)."""
    for path, files in spec["cgroup_files"]:  # type: ignore[attr-defined]
        make_cgroup(path, files)
    argv = list(spec["argv"])  # type: ignore[call-overload]
    cgroup_path = spec.get("cgroup_path")
    if cgroup_path:
        make_cgroup(str(cgroup_path))
        join_cgroup(str(cgroup_path))
    if spec.get("cgroupns"):
        enter_cgroup_namespace()
    os.chdir(str(spec["cwd"]))
    env = dict(spec["env"])  # type: ignore[call-overload]
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        run_job(json.load(f))
