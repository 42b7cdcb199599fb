"""A real Linux kernel with only cgroup v2, under QEMU, for the cgroup tests (issue 13).

This machine is a cgroup v1 host, so the runc tests (tests/container.py) prove v1 alone. This
helper boots Debian's stock kernel in a QEMU guest that mounts nothing but the unified
hierarchy, and runs one command there as root, optionally inside a cgroup with chosen limits
and its own cgroup namespace. It returns the command's exit status, stdout and stderr.

How the guest is made, without building an image:

- The kernel is the package Debian's ``linux-image-amd64`` depends on, fetched with
  ``apt-get download`` and unpacked with ``dpkg-deb -x`` (never installed). The uncompressed
  ELF ``vmlinux`` is cut out of ``vmlinuz``'s xz payload and booted through its PVH entry with
  ``qboot.rom``: under software emulation that skips about 9 s of decompression.
- The initramfs is a static busybox, the few modules the guest needs (9p, virtio, ext4,
  overlay; ``depmod`` orders them) and tests/vm_init.sh as /init. It is written here as a cpio
  archive; kernel, modules and initramfs are cached under ``~/.cache/danube-metrics/vm``,
  keyed by the kernel package's version.
- The host's ``/`` is shared read-only over 9p and the guest's root is an overlay of it with
  its upper layer on a scratch virtio disk (ext4): the guest has this very interpreter, venv
  and installed package at their host paths (editable or not), and a real block device whose
  writes ``io.stat`` counts. A second, writable 9p share carries the job in and its output out.
- Kernel options: ``cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 psi=1``; cgroup2 is
  mounted with ``nsdelegate`` and ``+cpu +cpuset +io +memory +pids`` enabled at the root.
- KVM only where the CPU shows vmx or svm (this machine's /dev/kvm cannot run a stock kernel);
  otherwise TCG, ``-accel tcg,thread=multi``, where Python runs about 13x slower than here.
- A boot that hangs before the job starts (about one in sixty did) is killed and retried.

The job itself runs tests/vm_guest.py in the guest, which makes the cgroups, moves itself into
the leaf, enters new cgroup and mount namespaces on request (with a cgroup2 mount of their
own) and execs the command. Missing host tools are installed with apt-get (as root).

Typical use::

    result = run_in_vm(["cat", "/sys/fs/cgroup/cpu.max"], cgroup_path="/pod/app",
                       cgroup_files={"/pod/app": {"cpu.max": "50000 100000"}}, cgroupns=True)
    assert result.stdout == "50000 100000\\n"
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
GUEST_SCRIPT = HERE / "vm_guest.py"
INIT_SCRIPT = HERE / "vm_init.sh"

KERNEL_META_PACKAGE = "linux-image-amd64"
KERNEL_OPTIONS = (
    "console=ttyS0 quiet loglevel=3 panic=-1 "
    "cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 psi=1"
)
# What the guest needs beyond the built-in drivers, loaded by /init in depmod's order.
GUEST_MODULES = (
    "virtio_pci",
    "virtio_blk",
    "9pnet_virtio",
    "9p",
    "crc32c_generic",
    "ext4",
    "overlay",
)
QBOOT_ROM = "/usr/share/qemu/qboot.rom"
BUSYBOX = "/bin/busybox"

# Host tools and the Debian packages that provide them.
HOST_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    QBOOT_ROM: "qemu-system-data",
    BUSYBOX: "busybox-static",
    "depmod": "kmod",
    "mkfs.ext4": "e2fsprogs",
    "dpkg-deb": "dpkg",
    "xz": "xz-utils",
}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BOOT_TIMEOUT = 120.0  # seconds from QEMU's start to the job's start: measured 8 to 20 s
BOOT_ATTEMPTS = 3
CACHE_LAYOUT = 2
SCRATCH_DISK_BYTES = 2 << 30  # sparse: only what the guest writes takes space


class VMUnavailable(RuntimeError):
    """QEMU, its tools or the kernel cannot be had here (a reason to skip outside CI)."""


class VMBootError(RuntimeError):
    """Every boot attempt hung or died before the job started."""


@dataclass(frozen=True)
class VMResult:
    """What one job in the guest did.

    :ivar returncode: the command's exit status (negative: killed by that signal).
    :ivar boot_seconds: from QEMU's start to the job's start, in the attempt that ran it.
    :ivar total_seconds: from the first QEMU start to its exit, retries included.
    :ivar attempts: boots started (more than one when a boot hung).
    :ivar console: the guest's serial console (kernel messages, /init's own lines).
    """

    returncode: int
    stdout: str
    stderr: str
    boot_seconds: float
    total_seconds: float
    attempts: int
    accelerator: str
    kernel: str
    console: str


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "danube-metrics" / "vm"


# ---- host tools ----------------------------------------------------------------------------


def _has_tool(tool: str) -> bool:
    if tool.startswith("/"):
        return os.path.exists(tool)
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":" + SYSTEM_PATH) is not None


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":" + SYSTEM_PATH)
    if found is None:
        raise VMUnavailable(f"{name} is not installed")
    return found


def _is_static_elf(path: str) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP): it runs in an
    initramfs that has no libc. Debian's plain busybox package is dynamic."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only (x86_64 guests)
                return False
            (phoff,) = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    pt_interp = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Other jobs may hold dpkg's lock for a while: wait for it rather than fail.
    return subprocess.run(
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def ensure_host_tools() -> None:
    """Installs the Debian packages of missing tools (root with apt-get only).

    :raises VMUnavailable: when a tool is missing and cannot be installed here.
    """
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if not _has_tool(tool)})
    if os.path.exists(BUSYBOX) and not _is_static_elf(BUSYBOX):
        missing.append("busybox-static")  # replaces the dynamic busybox package
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise VMUnavailable(f"missing {', '.join(missing)} (needs root and apt-get to install)")
    result = _apt_get("install", "-y", "-qq", "--no-install-recommends", *missing)
    if result.returncode != 0:
        _apt_get("update", "-qq")
        result = _apt_get("install", "-y", "-qq", "--no-install-recommends", *missing)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-600:]
        raise VMUnavailable(f"apt-get install {' '.join(missing)} failed: {detail}")
    still = [tool for tool in HOST_TOOLS if not _has_tool(tool)]
    if still or not _is_static_elf(BUSYBOX):
        raise VMUnavailable(f"still missing after apt-get install: {still or [BUSYBOX]}")


def accelerator() -> str:
    """QEMU's -accel: KVM where the CPU has hardware virtualisation, else TCG."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        flags = []
    if ("vmx" in flags or "svm" in flags) and os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "kvm"
    return "tcg,thread=multi"


# ---- kernel and initramfs ------------------------------------------------------------------


@dataclass(frozen=True)
class GuestKernel:
    release: str  # uname -r in the guest, e.g. 6.1.0-57-amd64
    package: str  # e.g. linux-image-6.1.0-57-amd64 6.1.192-3
    vmlinux: Path
    initramfs: Path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (two test runs must not build the same cache at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@functools.cache
def _kernel_package() -> Optional[tuple[str, str]]:
    """(name, version) of the kernel package linux-image-amd64 depends on, or None (apt-cache
    takes seconds on a busy machine: asked once per process)."""
    try:
        show = subprocess.run(
            ["apt-cache", "show", "--no-all-versions", KERNEL_META_PACKAGE],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return None
    # "Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)"
    found = re.search(r"^Depends:.*?\b(linux-image-[^\s,(]+) \(= ([^)\s]+)\)", show, re.M)
    return (found.group(1), found.group(2)) if found else None


def _unxz(data: bytes) -> bytes:
    """The first xz stream in `data`, decompressed (whatever follows it is ignored)."""
    try:
        import lzma
    except ImportError:  # an interpreter built without liblzma: xz-utils does it
        return subprocess.run(
            [_tool("xz"), "-dc", "--single-stream"], input=data, capture_output=True, check=False
        ).stdout
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _vmlinux_from_bzimage(bzimage: bytes) -> bytes:
    """The ELF kernel inside a bzImage whose payload is xz (Debian's CONFIG_KERNEL_XZ)."""
    start = bzimage.find(b"\xfd7zXZ\x00")
    if start < 0:
        raise VMUnavailable("vmlinuz has no xz payload (not CONFIG_KERNEL_XZ?)")
    elf = _unxz(bzimage[start:])  # the payload is followed by other data
    if elf[:4] != b"\x7fELF":
        raise VMUnavailable("vmlinuz's xz payload is not an ELF kernel")
    return elf


def _module_file(path: Path) -> tuple[str, bytes]:
    """A module's plain file name and bytes: busybox insmod takes no compressed modules, which
    newer Debian kernels ship (.ko.xz)."""
    if path.name.endswith(".ko"):
        return path.name, path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return path.name[: -len(".xz")], _unxz(path.read_bytes())
    raise VMUnavailable(f"cannot load {path.name} from the initramfs (not .ko or .ko.xz)")


def _module_load_order(modules_dir: Path, wanted: Sequence[str]) -> list[str]:
    """Module files (relative to modules_dir) in an order that loads each after its
    dependencies, from the modules.dep that depmod wrote."""
    deps: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    by_name = {Path(m).name.split(".ko")[0].replace("-", "_"): m for m in deps}
    order: list[str] = []

    def visit(mod: str) -> None:
        if mod in order:
            return
        for dep in deps[mod]:
            visit(dep)
        order.append(mod)

    for name in wanted:
        if name.replace("-", "_") not in by_name:
            raise VMUnavailable(f"the guest kernel has no module {name}")
        visit(by_name[name.replace("-", "_")])
    return order


def _cpio_newc(entries: Sequence[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the "newc" format the kernel unpacks: (name, mode, data) entries,
    directories before their contents."""
    out = io.BytesIO()

    def pad4() -> None:
        out.write(b"\0" * (-out.tell() % 4))

    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out.write(b"070701" + b"".join(b"%08X" % v for v in fields))
        out.write(encoded)
        pad4()
        out.write(data)
        pad4()
    return out.getvalue()


def _build_initramfs(modules_dir: Path, modules: Sequence[str]) -> bytes:
    init = INIT_SCRIPT.read_text().replace("@MODULES@", " ".join(modules))
    entries: list[tuple[str, int, bytes]] = [
        ("bin", 0o40755, b""),
        ("bin/busybox", 0o100755, Path(BUSYBOX).read_bytes()),
        ("modules", 0o40755, b""),
    ]
    for mod in modules:
        entries.append((f"modules/{mod}", 0o100644, (modules_dir / mod).read_bytes()))
    for d in ("dev", "proc", "sys", "host", "scratch", "newroot"):
        entries.append((d, 0o40755, b""))
    entries.append(("init", 0o100755, init.encode()))
    return _cpio_newc(entries)


def _fetch_kernel(dest: Path, package: str) -> str:
    """Downloads and unpacks `package` into dest (vmlinux, modules/); returns the release."""
    with tempfile.TemporaryDirectory(prefix="danube-vm-kernel-") as tmp:
        work = Path(tmp)
        got = subprocess.run(
            ["apt-get", "download", package],
            cwd=work,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        debs = list(work.glob("*.deb"))
        if got.returncode != 0 or not debs:
            detail = (got.stderr or got.stdout).strip()[-400:]
            raise VMUnavailable(f"apt-get download {package} failed: {detail}")
        tree = work / "tree"
        subprocess.run([_tool("dpkg-deb"), "-x", str(debs[0]), str(tree)], check=True)
        releases = [p.name for p in (tree / "lib" / "modules").iterdir()]
        if len(releases) != 1:
            raise VMUnavailable(f"{package} holds modules for {releases}, expected one release")
        release = releases[0]
        # The package's modules.dep is written at install time, by depmod: do the same here.
        subprocess.run([_tool("depmod"), "-b", str(tree), release], check=True)
        modules_dir = tree / "lib" / "modules" / release
        order = _module_load_order(modules_dir, GUEST_MODULES)
        vmlinux = _vmlinux_from_bzimage((tree / "boot" / f"vmlinuz-{release}").read_bytes())
        (dest / "modules").mkdir(parents=True)
        names = []
        for mod in order:
            name, data = _module_file(modules_dir / mod)
            (dest / "modules" / name).write_bytes(data)
            names.append(name)
        (dest / "modules" / "order").write_text("\n".join(names) + "\n")
        (dest / "vmlinux").write_bytes(vmlinux)
        (dest / "release").write_text(release + "\n")
    return release


def guest_kernel() -> GuestKernel:
    """The cached kernel and initramfs, fetched and built first if needed.

    Keyed by the kernel package's version; offline, the newest cached kernel is used.

    :raises VMUnavailable: when no kernel can be fetched and none is cached.
    """
    root = cache_dir()
    with _locked(root / "lock"):
        found = _kernel_package()
        if found is not None:
            name, version = found
            # The layout number changes when what is cached changes: old caches are rebuilt.
            kdir = root / f"{name}_{version}_layout{CACHE_LAYOUT}".replace(":", "%3a")
            if not (kdir / "release").exists():
                shutil.rmtree(kdir, ignore_errors=True)
                partial = kdir.with_name(kdir.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                _fetch_kernel(partial, name)
                (partial / "package").write_text(f"{name} {version}\n")
                partial.rename(kdir)
                for old in root.glob("linux-image-*"):  # kernels the archive has replaced
                    if old != kdir:
                        shutil.rmtree(old, ignore_errors=True)
        else:
            cached = sorted(
                (
                    p
                    for p in root.glob(f"linux-image-*_layout{CACHE_LAYOUT}")
                    if (p / "release").exists()
                ),
                key=lambda p: p.stat().st_mtime,
            )
            if not cached:
                raise VMUnavailable(f"apt-cache knows no {KERNEL_META_PACKAGE} and none cached")
            kdir = cached[-1]
        package = (kdir / "package").read_text().strip()
        release = (kdir / "release").read_text().strip()
        order = (kdir / "modules" / "order").read_text().split()
        # The initramfs depends on the init script and busybox too: key it by all three.
        digest = hashlib.sha256()
        for part in (INIT_SCRIPT.read_bytes(), Path(BUSYBOX).read_bytes(), " ".join(order)):
            digest.update(part if isinstance(part, bytes) else part.encode())
        initramfs = kdir / f"initramfs-{digest.hexdigest()[:16]}.cpio"
        if not initramfs.exists():
            for stale in kdir.glob("initramfs-*"):
                stale.unlink()
            data = _build_initramfs(kdir / "modules", order)
            tmp = initramfs.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.rename(initramfs)
        return GuestKernel(release, package, kdir / "vmlinux", initramfs)


# ---- running a job -------------------------------------------------------------------------


def _interpreter() -> str:
    """This interpreter as the guest should call it: the venv's bin/python (a symlink to the
    real interpreter, so the venv applies), never a pyenv shim (a script, 3x slower to start)."""
    real = os.path.realpath(sys.executable)
    with open(real, "rb") as f:
        if f.read(4) != b"\x7fELF":
            raise VMUnavailable(f"{sys.executable} resolves to {real}, not an ELF interpreter")
    return sys.executable


def _make_scratch_disk(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(SCRATCH_DISK_BYTES)
    subprocess.run(
        [_tool("mkfs.ext4"), "-q", "-F", "-L", "danube-scratch", str(path)],
        check=True,
        capture_output=True,
    )


def _qemu_command(
    kernel: GuestKernel, workdir: Path, *, cpus: int, memory_mib: int, accel: str
) -> list[str]:
    return [
        _tool("qemu-system-x86_64"),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-machine",
        "pc",
        "-accel",
        accel,
        "-cpu",
        "host" if accel == "kvm" else "max",
        "-smp",
        str(cpus),
        "-m",
        str(memory_mib),
        "-bios",
        QBOOT_ROM,
        "-kernel",
        str(kernel.vmlinux),
        "-initrd",
        str(kernel.initramfs),
        "-append",
        KERNEL_OPTIONS,
        "-serial",
        f"file:{workdir / 'console.log'}",
        "-virtfs",
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs",
        f"local,path={workdir / 'job'},mount_tag=job,security_model=none,multidevs=remap",
        "-drive",
        f"file={workdir / 'scratch.img'},format=raw,if=none,id=scratch,cache=unsafe",
        "-device",
        "virtio-blk-pci,drive=scratch",
    ]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def run_in_vm(
    args: Sequence[str],
    *,
    env: Optional[Mapping[str, str]] = None,
    cwd: str = "/",
    cgroup_path: Optional[str] = None,
    cgroup_files: Optional[Mapping[str, Mapping[str, str]]] = None,
    cgroupns: bool = False,
    cpus: int = 2,
    memory_mib: int = 1536,
    timeout: float = 600.0,
    boot_timeout: float = BOOT_TIMEOUT,
    attempts: int = BOOT_ATTEMPTS,
) -> VMResult:
    """Boots a guest, runs `args` there as root and returns what it did.

    :param env: the command's environment beyond PATH, HOME and PYTHONDONTWRITEBYTECODE
        (nothing else is carried in from here).
    :param cwd: the command's working directory (a host path: the guest sees the host's /).
    :param cgroup_path: the cgroup the command runs in, e.g. "/kubepods/pod1/app" (made, with
        the controllers enabled on every level above); None: the root cgroup.
    :param cgroup_files: interface files to write first, by cgroup, e.g.
        ``{"/kubepods/pod1": {"memory.max": "268435456"}}`` (in this order; cgroups made).
    :param cgroupns: the command gets a cgroup namespace rooted at its cgroup and a cgroup2
        mount of its own at /sys/fs/cgroup (the pod's view).
    :param timeout: seconds for the job itself, after the boot.
    :param boot_timeout: seconds for a boot to reach the job before it is killed and retried.
    :raises VMUnavailable: where QEMU, its tools or a kernel cannot be had.
    :raises VMBootError: when `attempts` boots in a row did not reach the job.
    :raises subprocess.TimeoutExpired: when the job runs past `timeout` (the guest is killed).
    """
    if sys.platform != "linux" or platform.machine() != "x86_64":
        raise VMUnavailable(f"the VM tests need an x86_64 Linux host, not {platform.machine()}")
    ensure_host_tools()
    kernel = guest_kernel()
    accel = accelerator()
    job = {
        "argv": list(args),
        "env": {
            "PATH": SYSTEM_PATH,
            "HOME": "/root",
            "PYTHONDONTWRITEBYTECODE": "1",
            # If the tests import the package through PYTHONPATH, so must the guest.
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
            **(env or {}),
        },
        "cwd": cwd,
        "cgroup_path": cgroup_path,
        "cgroup_files": [[path, dict(files)] for path, files in (cgroup_files or {}).items()],
        "cgroupns": cgroupns,
    }
    started_at = time.monotonic()
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        with tempfile.TemporaryDirectory(prefix="danube-vm-") as tmp:
            workdir = Path(tmp)
            jobdir = workdir / "job"
            jobdir.mkdir()
            (jobdir / "job.json").write_text(json.dumps(job))
            (jobdir / "run.sh").write_text(
                f"exec {_interpreter()} {GUEST_SCRIPT} /run/danube-vm/job.json\n"
            )
            _make_scratch_disk(workdir / "scratch.img")
            command = _qemu_command(kernel, workdir, cpus=cpus, memory_mib=memory_mib, accel=accel)
            boot_start = time.monotonic()
            with open(workdir / "qemu.log", "wb") as qemu_log:
                qemu = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT
                )
            try:
                boot_seconds = _wait_for_job(qemu, jobdir / "started", boot_start, boot_timeout)
                if boot_seconds is None:
                    _stop(qemu)
                    console = _read(workdir / "console.log")[-1500:]
                    said = _read(workdir / "qemu.log").strip()[-600:]
                    if not console and said:
                        # QEMU itself refused to start (an option, the firmware): no retry helps.
                        raise VMUnavailable(f"QEMU cannot start here: {said}")
                    failures.append(
                        f"attempt {attempt}: the job did not start within {boot_timeout:.0f} s "
                        f"(QEMU exit {qemu.returncode}, said {said!r}); console:\n{console}"
                    )
                    continue
                try:
                    qemu.wait(timeout=timeout)
                except subprocess.TimeoutExpired as exc:
                    raise subprocess.TimeoutExpired(
                        command, timeout, output=_read(jobdir / "stdout")
                    ) from exc
            finally:
                _stop(qemu)
            status_text = _read(jobdir / "status").strip()
            console = _read(workdir / "console.log")
            if not status_text:
                raise VMBootError(
                    f"the guest stopped without the job's status; console:\n{console}"
                )
            return VMResult(
                returncode=int(status_text),
                stdout=_read(jobdir / "stdout"),
                stderr=_read(jobdir / "stderr"),
                boot_seconds=boot_seconds,
                total_seconds=time.monotonic() - started_at,
                attempts=attempt,
                accelerator=accel,
                kernel=f"{kernel.release} ({kernel.package})",
                console=console,
            )
    raise VMBootError("\n".join(failures))


def _wait_for_job(
    qemu: subprocess.Popen[bytes], marker: Path, start: float, boot_timeout: float
) -> Optional[float]:
    """Seconds until the guest's job started (its marker file appeared), or None when QEMU
    exited or the boot watchdog ran out first."""
    while time.monotonic() - start < boot_timeout:
        if marker.exists():
            return time.monotonic() - start
        if qemu.poll() is not None:
            return time.monotonic() - start if marker.exists() else None
        time.sleep(0.1)
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def vm_unavailable() -> Optional[str]:
    """None when guests can be booted here as far as can be told without booting, else why
    not. (Installs missing tools and fetches the kernel as a side effect.)"""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"the VM tests need an x86_64 Linux host, not {sys.platform} {platform.machine()}"
    if os.geteuid() != 0:
        return "the VM tests need root (9p export of /, apt-get for QEMU and the kernel)"
    try:
        ensure_host_tools()
        guest_kernel()
        _interpreter()
    except (VMUnavailable, OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None
