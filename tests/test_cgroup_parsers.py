"""The cgroup parsers (dm_cgroup_parse.c), through the test wrappers in tests/internals.py.

Same three kinds of test as test_parsers.py: fuzzing on guard-page buffers (a value or
ParseError, never a read outside the input), round trips from generated files, and worked
examples from real systems (Docker on v1, a Kubernetes pod on v2 with a cgroup namespace, a
hybrid host). Where the expected answer is cheap to state exactly, the fuzz tests also compare
the parser with a small Python model of it, so that noise checks answers and not only crashes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import pytest
from guarded import damaged, guarded_as_c, guarded_outcome
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from internals import (
    CGROUP_CONTROLLERS,
    NO_LIMIT,
    DiskSet,
    MountinfoLine,
    ffi,
    lib,
    mountinfo_find,
    parse_blkio_bytes,
    parse_cpu_list,
    parse_cpu_max,
    parse_io_stat,
    parse_keyed,
    parse_limit,
    parse_mountinfo_line,
    parse_proc_cgroup,
    unescape_mount_path,
)

from danube_metrics.errors import ParseError

FIXTURES = Path(__file__).parent / "fixtures"
U64_MAX = 2**64 - 1

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

V1_NAMES = CGROUP_CONTROLLERS[1:]  # the v1 controllers the parser reports
# Controllers a v1 hierarchy may carry: the reported ones, and others sharing a prefix.
# fmt: off
V1_CONTROLLERS = (
    "cpu", "cpuacct", "cpuset", "memory", "blkio", "pids", "net_cls", "net_prio", "devices",
    "freezer", "hugetlb", "perf_event", "rdma",
)
# fmt: on
# Named hierarchies carry no controller, whatever their name says.
NAMED = ("name=systemd", "name=cpu", "name=memory", "name=unified", "name=elogind")

# ---- Strategies -------------------------------------------------------------------------------

BLANKS = st.text(alphabet=" \t", max_size=2)
# Any character but newline (and surrogates, which UTF-8 cannot carry), ':' and '/' often.
PATH_CHARS = st.one_of(
    st.sampled_from(list(":/-._@=, abc019")),
    st.characters(codec="utf-8", exclude_characters="\n\0"),  # no path holds a NUL
)
CGROUP_PATHS = st.text(PATH_CHARS, max_size=30).map(lambda s: "/" + s)


@st.composite
def proc_cgroup_files(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A /proc/self/cgroup file: v1 hierarchies (each controller in at most one, as the kernel
    allows), named ones, maybe the v2 "0::" line; and the path of each reported controller."""
    owners = draw(
        st.lists(
            st.tuples(st.sampled_from(V1_CONTROLLERS), st.integers(0, 4)), unique_by=lambda t: t[0]
        )
    )
    groups: dict[int, list[str]] = {}
    for name, group in owners:
        groups.setdefault(group, []).append(name)
    hierarchies = [",".join(names) for names in groups.values()]
    hierarchies += draw(st.lists(st.sampled_from(NAMED), unique=True, max_size=2))
    n = len(hierarchies)
    ids = draw(st.lists(st.integers(1, 99), unique=True, min_size=n, max_size=n))
    lines, expected = [], {}
    for hid, controllers in zip(ids, hierarchies):
        path = draw(CGROUP_PATHS)
        lines.append(f"{hid}:{controllers}:{path}")
        expected.update({c: path for c in controllers.split(",") if c in V1_NAMES})
    if not lines or draw(st.booleans()):
        path = draw(CGROUP_PATHS)
        lines.append(f"0::{path}")
        expected["unified"] = path
    lines = draw(st.permutations(lines))
    return "".join(line + "\n" for line in lines).encode(), expected


def escape_mount_path(raw: bytes) -> bytes:
    """mountinfo's escaping of a path (the kernel's mangle()); backslash first, so that the
    backslashes of the other escapes are not escaped again."""
    for char, code in ((b"\\", b"\\134"), (b" ", b"\\040"), (b"\t", b"\\011"), (b"\n", b"\\012")):
        raw = raw.replace(char, code)
    return raw


# Raw paths rich in the four escaped bytes, and in text that looks like an escape already.
MOUNT_PATHS = st.lists(
    st.one_of(
        st.sampled_from([" ", "\t", "\n", "\\", "\\040", "\\1", "/", ":", ",", "-"]),
        st.text(PATH_CHARS, max_size=4),
    ),
    max_size=8,
).map(lambda parts: ("/" + "".join(parts)).encode())

OPTIONAL_FIELDS = st.lists(
    st.sampled_from(["shared:1", "shared:9", "master:2", "master:16", "propagate_from:3"]),
    max_size=3,
)
V1_EXTRA_OPTIONS = ("xattr", "noprefix", "clone_children", "release_agent=/run/agents/cgm.cpu")
V1_SUPER_OPTIONS = st.lists(
    st.sampled_from(V1_CONTROLLERS + NAMED + V1_EXTRA_OPTIONS), unique=True, min_size=1
).map(lambda items: ",".join(["rw", *items]))
V2_SUPER_OPTIONS = st.sampled_from(
    ["rw", "rw,nsdelegate", "rw,nsdelegate,memory_recursiveprot", "rw,memory_localevents"]
)
# (fstype, source, super options): v1 and v2 cgroup mounts, and others that name controllers.
FILESYSTEMS = st.one_of(
    st.tuples(
        st.just("cgroup"), st.sampled_from(["cgroup", "none", "systemd", ""]), V1_SUPER_OPTIONS
    ),
    st.tuples(st.just("cgroup2"), st.sampled_from(["cgroup2", "cgroup", "none"]), V2_SUPER_OPTIONS),
    st.tuples(
        st.sampled_from(["tmpfs", "proc", "sysfs", "overlay", "ext4", "cgroup1", "cgroupfs"]),
        # mount -t tmpfs "" /x: the kernel writes an empty source between single spaces.
        st.sampled_from(["tmpfs", "proc", "/dev/sda1", "cgroup", ""]),
        st.sampled_from(["rw", "rw,mode=755", "rw,cpu,memory", "ro", "rw,lowerdir=/a:/b"]),
    ),
)


class Mount(NamedTuple):
    line: bytes  # without newline
    raw_root: bytes
    raw_mount_point: bytes
    parsed: MountinfoLine


@st.composite
def mounts(draw: st.DrawFn) -> Mount:
    raw_root, raw_mp = draw(MOUNT_PATHS), draw(MOUNT_PATHS)
    root, mp = escape_mount_path(raw_root), escape_mount_path(raw_mp)
    fstype, source, super_options = draw(FILESYSTEMS)
    options = draw(st.sampled_from(["rw", "rw,relatime", "ro,nosuid,nodev,noexec,relatime"]))
    head = [str(draw(st.integers(1, 9999))), str(draw(st.integers(1, 9999)))]
    head.append(f"{draw(st.integers(0, 259))}:{draw(st.integers(0, 999))}")
    fields = [*head, root.decode(), mp.decode(), options, *draw(OPTIONAL_FIELDS), "-"]
    fields += [fstype, source, super_options]
    parsed = MountinfoLine(root.decode(), mp.decode(), fstype, super_options)
    return Mount(" ".join(fields).encode(), raw_root, raw_mp, parsed)


def mounts_file(entries: list[Mount]) -> bytes:
    return b"".join(m.line + b"\n" for m in entries)


def mount_matches(m: MountinfoLine, controller: str) -> bool:
    """What mountinfo_find looks for: cgroup2 for "unified", else a v1 "cgroup" mount whose
    super options hold the controller as a whole item."""
    if controller == "unified":
        return m.fstype == "cgroup2"
    return m.fstype == "cgroup" and controller in m.super_options.split(",")


# memory.stat (v1 and v2) and cpu.stat keys, many a prefix or suffix of another.
# fmt: off
STAT_KEYS = (
    "cache", "rss", "rss_huge", "shmem", "mapped_file", "inactive_anon", "active_anon",
    "inactive_file", "active_file", "total_cache", "total_rss", "total_inactive_file",
    "total_active_file", "hierarchical_memory_limit", "anon", "anon_thp", "file", "file_mapped",
    "file_dirty", "usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled",
    "throttled_usec", "core_sched.force_idle_usec",
)
# fmt: on


@st.composite
def keyed_files(draw: st.DrawFn) -> tuple[bytes, dict[str, int]]:
    keys = draw(st.lists(st.sampled_from(STAT_KEYS), unique=True))
    values = {k: draw(st.integers(0, U64_MAX)) for k in keys}
    text = "".join(f"{k} {draw(BLANKS)}{v}{draw(BLANKS)}\n" for k, v in values.items())
    return text.encode(), values


DEVICES = st.lists(
    st.tuples(st.sampled_from([8, 253, 259, 179]), st.integers(0, 64)), unique=True, max_size=6
)
COUNTER = st.integers(0, 2**56)  # six devices summed stay far below 2**64


@st.composite
def io_stat_files(draw: st.DrawFn) -> tuple[bytes, tuple[int, int]]:
    lines, rbytes, wbytes = [], 0, 0
    for major, minor in draw(DEVICES):
        stats = {k: draw(COUNTER) for k in ("rbytes", "wbytes", "rios", "wios", "dbytes", "dios")}
        # iocost and iolatency add keys of their own; the order of keys is not relied upon.
        extra = draw(st.lists(st.sampled_from(["cost.usage", "use_delay", "delay_nsec"])))
        stats.update({k: draw(COUNTER) for k in extra})
        pairs = [f"{k}={v}" for k, v in stats.items()]
        lines.append(f"{major}:{minor} " + " ".join(draw(st.permutations(pairs))))
        rbytes += stats["rbytes"]
        wbytes += stats["wbytes"]
    return "".join(line + "\n" for line in lines).encode(), (rbytes, wbytes)


@st.composite
def blkio_files(draw: st.DrawFn) -> tuple[bytes, tuple[int, int]]:
    lines, read, write, total = [], 0, 0, 0
    with_discard = draw(st.booleans())  # Discard lines appeared in 4.19
    for major, minor in draw(DEVICES):
        r, w, d = draw(COUNTER), draw(COUNTER), draw(COUNTER) if with_discard else 0
        sync = draw(st.integers(0, r + w))
        ops = [("Read", r), ("Write", w), ("Sync", sync), ("Async", r + w - sync)]
        if with_discard:
            ops.append(("Discard", d))
        ops.append(("Total", r + w + d))
        lines += [f"{major}:{minor} {op} {v}" for op, v in ops]
        read, write, total = read + r, write + w, total + r + w + d
    lines.append(f"Total {total}")
    return "".join(line + "\n" for line in lines).encode(), (read, write)


@st.composite
def cpu_lists(draw: st.DrawFn) -> tuple[bytes, int]:
    """Disjoint ranges in increasing order (adjacent ones too), low CPU numbers or near the
    parser's bound of 2**20."""
    cpu = draw(st.one_of(st.integers(0, 64), st.integers(1_000_000, 1_040_000)))
    pieces, count = [], 0
    for _ in range(draw(st.integers(1, 8))):
        length = draw(st.integers(1, 64))
        last = cpu + length - 1
        single = length == 1 and draw(st.booleans())
        pieces.append(str(cpu) if single else f"{cpu}-{last}")
        count += length
        cpu = last + 1 + draw(st.integers(0, 100))
    return (",".join(pieces) + draw(st.sampled_from(["", "\n"]))).encode(), count


def _limit_text(value: int) -> st.SearchStrategy[bytes]:
    return st.sampled_from(["", "\n", " \n"]).map(lambda end: f"{value}{end}".encode())


# Noise: the bytes and words these parsers look for, in any order.
# fmt: off
NOISE_TOKENS = st.sampled_from([
    "0", "1", "8", "10", "100000", ":", "::", "0::", "-", " - ", ",", "=", " ", "  ", "\t", "\n",
    "max", "max ", "-1", "rbytes=", "wbytes=", "rios=", "dbytes=", "Read", "Write", "Total",
    "Total ", "Sync", "Discard", "cgroup", "cgroup2", "cgroup ", "cpu", "cpuacct", "cpuset",
    "memory", "blkio", "name=systemd", "rw,", "shared:1", "/", "/docker/", "\\", "\\040",
    "\\134", "\\0", "\\3777", "inactive_file", "total_inactive_file", "usage_usec", "8:0",
    "18446744073709551615", "18446744073709551616", "9223372036854771712", "1048575",
    "1048576",
])
# fmt: on
NOISE = st.lists(
    st.one_of(NOISE_TOKENS, st.text(alphabet="0123456789:-,= \n\\amx", max_size=5)), max_size=40
).map(lambda parts: "".join(parts).encode())


def fuzz_inputs(files: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200), NOISE, files, damaged(files, b"0123456789 \t\n:-,=\\\x00\xff")
    )


def first(case: st.SearchStrategy[tuple[Any, ...]]) -> st.SearchStrategy[bytes]:
    return case.map(lambda c: c[0])


MOUNTINFO_FILES = st.lists(mounts(), max_size=5).map(mounts_file)
CPU_MAX_FILES = st.builds(
    "{} {}\n".format,
    st.one_of(st.just("max"), st.integers(0, U64_MAX)),
    st.integers(0, U64_MAX),
).map(str.encode)

# ---- Models: the answers, stated in Python --------------------------------------------------

Outcome = Any  # a parser's value, or the ParseError class when it refused the input


def _lines(data: bytes) -> list[tuple[bytes, bool]]:
    """The lines of `data` as the C scanners see them, each with whether a newline ends it."""
    pieces = data.split(b"\n")
    out = [(p, True) for p in pieces[:-1]]
    return [*out, (pieces[-1], False)] if pieces[-1] else out


def model_proc_cgroup(data: bytes) -> Outcome:
    found, count = {}, 0
    for line, terminated in _lines(data):
        if not terminated:
            return ParseError  # a cut file, not a short one
        if not line:
            continue
        parts = line.split(b":", 2)  # a path may hold ':'
        if b"\0" in line:  # a NUL would cut the path short as a C string
            return ParseError
        if len(parts) < 3 or not parts[0].isdigit():
            return ParseError
        count += 1
        path = parts[2].decode("utf-8", "replace")
        if parts[0] == b"0" and not parts[1]:
            found["unified"] = path
        else:
            listed = parts[1].split(b",")
            found.update({c: path for c in V1_NAMES if c.encode() in listed})
    return found if count else ParseError


def model_mountinfo_find(data: bytes, controller: str) -> Outcome:
    # Built on the line parser: this checks the file walk (lines, offsets, matching). A line
    # that does not parse is skipped, unless it could be a cgroup mount (it holds "cgroup" or
    # a NUL): that one fails the search.
    for line, terminated in _lines(data):
        if not terminated:
            return ParseError
        if not line:
            continue
        try:
            m = parse_mountinfo_line(line)
        except ParseError:
            if b"cgroup" in line or b"\0" in line:
                return ParseError
            continue
        if mount_matches(m, controller):
            return m
    return None


# show_mountinfo (fs/proc_namespace.c): single spaces; optional fields (never "-") up to the
# "-" field; then fstype, source (may be empty: mount -t tmpfs "" /x), super options.
_KERNEL_MOUNTINFO_LINE = re.compile(
    rb"\d+ \d+ \d+:\d+ ([^ ]+) ([^ ]+) [^ ]+(?: (?!- )[^ ]+)* - ([^ ]+) ([^ ]*) ([^ ]+)"
)


def model_mountinfo_line(data: bytes) -> Outcome:
    line = data[:-1] if data.endswith(b"\n") else data
    if b"\n" in line or b"\0" in line:
        return ParseError
    m = _KERNEL_MOUNTINFO_LINE.fullmatch(line)
    if m is None:
        return ParseError
    return MountinfoLine(*(g.decode("utf-8", "replace") for g in (m[1], m[2], m[3], m[5])))


def model_unescape(data: bytes, cap: int) -> Outcome:
    out = re.sub(rb"\\([0-3][0-7][0-7])", lambda m: bytes([int(m[1], 8)]), data)
    if b"\0" in out:  # no path holds a NUL (raw or \000): as a C string it would end there
        return ParseError
    return out if len(out) < cap else ParseError  # room for the NUL too


def _single_value(data: bytes) -> Optional[bytes]:
    text = data.lstrip(b" \t").rstrip(b" \t\n")
    return text if text and b"\n" not in text else None


def model_cpu_list(data: bytes) -> Outcome:
    text, count = _single_value(data), 0
    if text is None:
        return ParseError
    for item in text.split(b","):
        m = re.fullmatch(rb"(\d+)(?:-(\d+))?", item)
        if not m:
            return ParseError
        a, b = int(m[1]), int(m[2] or m[1])
        if b >= 2**20 or b < a:  # CPU numbers are bounded at 2**20
            return ParseError
        count += b - a + 1
    return count


def model_keyed(data: bytes, key: str) -> Outcome:
    k = key.encode()
    for line, terminated in _lines(data):
        if line.startswith(k + b" "):  # the first line of that key decides
            m = re.fullmatch(rb"[ \t]*(\d+)[ \t]*", line[len(k) :])
            if not terminated or not m or int(m[1]) > U64_MAX:
                return ParseError
            return int(m[1])
    return ParseError


# A negative v1 quota: "-1" (no blank after the minus: test_limit_minus_then_blank_is_malformed).
_NEGATIVE = rb"-\d+"


def check_limit(data: bytes, got: Outcome) -> None:
    """A one-way check: whatever parse_limit accepted says what its text said."""
    if got is ParseError:
        return
    text = _single_value(data)
    assert text is not None
    if got == NO_LIMIT:
        # "max", -1 (v1), or a number that is u64's maximum (leading zeros included).
        assert (
            text == b"max"
            or re.fullmatch(_NEGATIVE, text)
            or (re.fullmatch(rb"\d+", text) and int(text) == U64_MAX)
        )
    else:
        assert re.fullmatch(rb"\d+", text) and int(text) == got


def check_cpu_max(data: bytes, got: Outcome) -> None:
    if got is ParseError:
        return
    text = _single_value(data)
    assert text is not None
    quota_text, _, period_text = text.partition(b" ")
    quota, period = got
    assert period > 0 and int(period_text.strip(b" \t")) == period
    check_limit(quota_text, quota)


def check_mountinfo_line(data: bytes, got: Outcome) -> None:
    if got is ParseError:
        return
    for field in got:  # a span of the line ("\ufffd" where its bytes were not UTF-8)
        assert field.encode() in data or "\ufffd" in field
        assert " " not in field and "\n" not in field
    assert got.fstype and got.super_options


def check_pair(data: bytes, got: Outcome) -> None:
    if got is not ParseError:
        assert all(0 <= v <= U64_MAX for v in got)


# ---- Fuzzing: a value or ParseError, and no read outside the buffer ---------------------------


class Target(NamedTuple):
    parse: Callable[[bytes, Any], object]
    inputs: st.SearchStrategy[bytes]
    arg: st.SearchStrategy[Any]  # the key, controller or cap, where the parser takes one
    # Either a model (the exact outcome) or a check of the outcome.
    model: Optional[Callable[[bytes, Any], Outcome]] = None
    check: Optional[Callable[[bytes, Outcome], None]] = None


NONE = st.none()
FUZZ_TARGETS: dict[str, Target] = {
    "proc_cgroup": Target(
        lambda d, _: parse_proc_cgroup(d),
        fuzz_inputs(first(proc_cgroup_files())),
        NONE,
        model=lambda d, _: model_proc_cgroup(d),
    ),
    "mountinfo_line": Target(
        lambda d, _: parse_mountinfo_line(d),
        fuzz_inputs(mounts().map(lambda m: m.line)),
        NONE,
        model=lambda d, _: model_mountinfo_line(d),
        check=check_mountinfo_line,
    ),
    "mountinfo_find": Target(
        mountinfo_find,
        fuzz_inputs(MOUNTINFO_FILES),
        st.sampled_from(CGROUP_CONTROLLERS),
        model=model_mountinfo_find,
    ),
    "unescape_mount_path": Target(
        lambda d, cap: unescape_mount_path(d, cap),
        fuzz_inputs(MOUNT_PATHS.map(escape_mount_path)),
        st.one_of(st.integers(0, 40), st.just(4096)),
        model=model_unescape,
    ),
    "limit": Target(
        lambda d, _: parse_limit(d),
        fuzz_inputs(st.integers(0, U64_MAX).flatmap(_limit_text)),
        NONE,
        check=check_limit,
    ),
    "cpu_max": Target(
        lambda d, _: parse_cpu_max(d),
        fuzz_inputs(CPU_MAX_FILES),
        NONE,
        check=check_cpu_max,
    ),
    "keyed": Target(
        parse_keyed,
        fuzz_inputs(first(keyed_files())),
        st.sampled_from(STAT_KEYS),
        model=model_keyed,
    ),
    "io_stat": Target(
        lambda d, _: parse_io_stat(d), fuzz_inputs(first(io_stat_files())), NONE, check=check_pair
    ),
    "blkio_bytes": Target(
        lambda d, _: parse_blkio_bytes(d), fuzz_inputs(first(blkio_files())), NONE, check=check_pair
    ),
    "cpu_list": Target(
        lambda d, _: parse_cpu_list(d),
        fuzz_inputs(first(cpu_lists())),
        NONE,
        model=lambda d, _: model_cpu_list(d),
    ),
}


@pytest.mark.parametrize("name", sorted(FUZZ_TARGETS))
@FUZZ
@given(data=st.data())
def test_fuzz_never_reads_outside_the_buffer(name: str, data: st.DataObject) -> None:
    target = FUZZ_TARGETS[name]
    raw = data.draw(target.inputs, label="input")
    arg = data.draw(target.arg, label="arg")

    def parse(d: bytes) -> object:
        return target.parse(d, arg)

    after = guarded_outcome(parse, raw, "after")
    # The answer must not depend on where the copy sits, i.e. on bytes outside it.
    before = guarded_outcome(parse, raw, "before")
    assert after == before
    if target.model is not None:
        assert after == target.model(raw, arg)
    if target.check is not None:
        target.check(raw, after)


# Which parser reads each fixture file, by name.
FIXTURE_PARSERS: dict[str, Callable[[bytes], object]] = {
    "cgroup": parse_proc_cgroup,
    "mountinfo": lambda d: [mountinfo_find(d, c) for c in CGROUP_CONTROLLERS],
    # v1 files are read for the hierarchy's total_inactive_file, v2 ones for inactive_file.
    "memory.stat": lambda d: parse_keyed(
        d, "total_inactive_file" if b"total_" in d else "inactive_file"
    ),
    "cpu.stat": lambda d: parse_keyed(d, "usage_usec"),
    "io.stat": parse_io_stat,
    "blkio.throttle.io_service_bytes_recursive": parse_blkio_bytes,
    "blkio.io_service_bytes_recursive": parse_blkio_bytes,
    "cpu.max": parse_cpu_max,
    "cpuset.cpus": parse_cpu_list,
    "cpuset.cpus.effective": parse_cpu_list,
    "online": parse_cpu_list,
    **dict.fromkeys(
        (
            "memory.max",
            "memory.current",
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            "cpu.cfs_quota_us",
            "cpu.cfs_period_us",
            "cpuacct.usage",
        ),
        parse_limit,
    ),
}


def _fixture_files() -> list[Any]:
    return [
        pytest.param(p, FIXTURE_PARSERS[p.name], id=str(p.relative_to(FIXTURES)))
        for p in sorted(FIXTURES.glob("cgroup-*/**/*"))
        if p.is_file() and p.name in FIXTURE_PARSERS and "later" not in p.parts
    ]


@pytest.mark.parametrize(("path", "parse"), _fixture_files())
def test_every_prefix_and_suffix_of_fixture_files(
    path: Path, parse: Callable[[bytes], object]
) -> None:
    # The fixtures are real-looking files: whole they parse, and cut at every byte they end
    # where a parser may overrun.
    data = path.read_bytes()
    assert guarded_outcome(parse, data, "after") is not ParseError
    for i in range(len(data) + 1):
        guarded_outcome(parse, data[:i], "after")
        guarded_outcome(parse, data[i:], "before")


# ---- Round trips: /proc/self/cgroup and mountinfo ---------------------------------------------


@ROUND_TRIP
@given(case=proc_cgroup_files())
def test_proc_cgroup_round_trip(case: tuple[bytes, dict[str, str]]) -> None:
    data, expected = case
    with guarded_as_c():
        assert parse_proc_cgroup(data) == expected


def test_proc_cgroup_controller_lists_are_matched_by_whole_items() -> None:
    data = (
        b"9:cpuset:/a\n"  # cpuset is not cpu
        b"8:cpuacct:/b\n"  # cpuacct alone is not cpu...
        b"7:cpu:/c\n"  # ...and cpu alone is not cpuacct
        b"6:memory_x,blkio2:/d\n"
        b"1:name=systemd:/e\n"
        b"2:name=memory:/f\n"
    )
    assert parse_proc_cgroup(data) == {"cpuset": "/a", "cpuacct": "/b", "cpu": "/c"}
    assert parse_proc_cgroup(b"1:name=systemd:/user.slice\n") == {}
    assert parse_proc_cgroup(b"4:memory:/kubepods/pod:1/abc:def\n") == {
        "memory": "/kubepods/pod:1/abc:def"
    }
    # A v1 hierarchy with an empty list is not the v2 line; only ID 0 is.
    assert parse_proc_cgroup(b"3::/x\n00::/y\n") == {}


@ROUND_TRIP
@given(mount=mounts(), newline=st.booleans())
def test_mountinfo_line_round_trip(mount: Mount, newline: bool) -> None:
    line = mount.line + (b"\n" if newline else b"")
    with guarded_as_c():
        got = parse_mountinfo_line(line)
        assert got == mount.parsed  # root and mount point still escaped
        assert unescape_mount_path(got.root.encode()) == mount.raw_root
        assert unescape_mount_path(got.mount_point.encode()) == mount.raw_mount_point


@ROUND_TRIP
@given(entries=st.lists(mounts(), max_size=8), controller=st.sampled_from(CGROUP_CONTROLLERS))
def test_mountinfo_find_round_trip(entries: list[Mount], controller: str) -> None:
    expected = next((m.parsed for m in entries if mount_matches(m.parsed, controller)), None)
    with guarded_as_c():
        assert mountinfo_find(mounts_file(entries), controller) == expected


def test_mountinfo_find_matches_whole_super_options() -> None:
    data = (
        b"30 25 0:27 / /sys/fs/cgroup/cpuset rw shared:14 - cgroup cgroup rw,cpuset\n"
        b"31 25 0:28 / /sys/fs/cgroup/x rw - cgroup cgroup rw,release_agent=/a/cgm.cpu\n"
        b"32 25 0:29 / /sys/fs/cgroup/y rw - cgroup2 cgroup2 rw,cpu,memory_recursiveprot\n"
        b"33 25 0:30 / /sys/fs/cgroup/z rw - tmpfs cgroup rw,cpu,memory\n"
        b"34 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    )
    assert mountinfo_find(data, "cpu") == MountinfoLine(
        "/", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"
    )
    assert mountinfo_find(data, "cpuacct") == mountinfo_find(data, "cpu")
    cpuset, unified = mountinfo_find(data, "cpuset"), mountinfo_find(data, "unified")
    assert cpuset is not None and cpuset.mount_point == "/sys/fs/cgroup/cpuset"
    assert unified is not None and unified.mount_point == "/sys/fs/cgroup/y"
    assert mountinfo_find(data, "memory") is None
    assert mountinfo_find(data, "blkio") is None
    assert mountinfo_find(b"", "memory") is None


@ROUND_TRIP
@given(raw=st.binary(max_size=100).map(lambda b: b.replace(b"\0", b"")))
def test_unescape_round_trip_and_cap(raw: bytes) -> None:
    escaped = escape_mount_path(raw)
    with guarded_as_c():
        assert unescape_mount_path(escaped) == raw
        # Exactly enough room for the path and its NUL, then one byte short.
        assert unescape_mount_path(escaped, cap=len(raw) + 1) == raw
        with pytest.raises(ParseError):
            unescape_mount_path(escaped, cap=len(raw))


def test_unescape_leaves_non_escapes_alone() -> None:
    # Only a backslash and three octal digits, the first 0-3, is an escape.
    for text in (b"\\", b"a\\", b"\\04", b"\\400", b"\\08x", b"\\x41", b"\\\\"):
        assert unescape_mount_path(text) == text
    assert unescape_mount_path(b"\\0401") == b" 1"
    assert unescape_mount_path(b"\\1340") == b"\\0"
    assert unescape_mount_path(b"\\377") == b"\xff"


# ---- Round trips: value files ---------------------------------------------------------------


@ROUND_TRIP
@given(value=st.integers(0, U64_MAX), data=st.data())
@example(value=9223372036854771712, data=None)  # v1 "unlimited" with 4 KiB pages
@example(value=9223372036854710272, data=None)  # ... and with 64 KiB pages
@example(value=U64_MAX, data=None)
def test_limit_round_trip(value: int, data: Optional[st.DataObject]) -> None:
    text = data.draw(_limit_text(value)) if data else f"{value}\n".encode()
    with guarded_as_c():
        assert parse_limit(text) == value


@ROUND_TRIP
@given(text=st.one_of(st.sampled_from(["max", "-1"]), st.integers(-(2**63), -1).map(str)))
@example(text="-9223372036854775808")  # the most negative s64
def test_limit_none(text: str) -> None:
    # "max" (v2) and any negative number (v1 writes -1) mean no limit.
    with guarded_as_c():
        assert parse_limit(text.encode()) == NO_LIMIT
        assert parse_limit(f"{text}\n".encode()) == NO_LIMIT


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\n",
        b" \n",
        b"1 2\n",
        b"1\n2\n",
        b"12abc\n",
        b"max max\n",
        b"maxx\n",
        b"Max\n",
        b"18446744073709551616\n",
        b"-\n",
        b"+5\n",
        b"0x10\n",
        b"1.5\n",
        b"-1x\n",
    ],
)
def test_limit_malformed(text: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse_limit(text)


@pytest.mark.parametrize(
    ("parse", "text"),
    [(parse_limit, b"- 5\n"), (parse_limit, b"-\t1\n"), (parse_cpu_max, b"-\t1 100000\n")],
)
def test_limit_minus_then_blank_is_malformed(parse: Callable[[bytes], object], text: bytes) -> None:
    # parse_limit_token hands the text after '-' to dm_scan_u64, which skips leading blanks:
    # "- 5" reads as "-5", no limit, instead of being refused. (In cpu.max the quota ends at
    # the first space, so there only a tab shows it.)
    with pytest.raises(ParseError):
        parse(text)


@ROUND_TRIP
@given(
    quota=st.one_of(st.just("max"), st.integers(1, U64_MAX)),
    period=st.integers(1, U64_MAX),
    spaces=st.integers(1, 3),
    end=st.sampled_from(["", "\n"]),
)
def test_cpu_max_round_trip(quota: Any, period: int, spaces: int, end: str) -> None:
    text = f"{quota}{' ' * spaces}{period}{end}".encode()
    with guarded_as_c():
        assert parse_cpu_max(text) == (NO_LIMIT if quota == "max" else quota, period)


@pytest.mark.parametrize(
    "text",
    [
        b"max 0\n",
        b"50000 0\n",
        b"max\n",
        b"100000\n",
        b"",
        b"max 100000 5\n",
        b"max 100000\n100000\n",
        b"max 18446744073709551616\n",
        b"maxx 100000\n",
        b"max -100000\n",
    ],
)
def test_cpu_max_malformed(text: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse_cpu_max(text)


@ROUND_TRIP
@given(case=keyed_files())
def test_keyed_round_trip(case: tuple[bytes, dict[str, int]]) -> None:
    data, values = case
    with guarded_as_c():
        for key in STAT_KEYS:
            if key in values:
                assert parse_keyed(data, key) == values[key], key
            else:
                with pytest.raises(ParseError):
                    parse_keyed(data, key)


@ROUND_TRIP
@given(case=keyed_files(), stale=st.integers(0, 4096))
def test_keyed_hint_never_changes_the_answer(
    case: tuple[bytes, dict[str, int]], stale: int
) -> None:
    """With a remembered line offset (right, stale or past the end), the parser finds what a
    fresh scan finds, and remembers the line it found."""
    data, values = case
    with guarded_as_c():
        for key in STAT_KEYS:
            for start in (stale, 0):
                hint = [start]
                if key in values:
                    assert parse_keyed(data, key, hint) == values[key], key
                    assert data[hint[0] :].startswith(key.encode() + b" ")
                    assert parse_keyed(data, key, hint) == values[key], key  # from the hint
                else:
                    with pytest.raises(ParseError):
                        parse_keyed(data, key, hint)


def test_keyed_exact_keys() -> None:
    v1 = b"cache 10\ntotal_inactive_file 30\ninactive_filex 40\n"
    assert parse_keyed(v1, "total_inactive_file") == 30
    with pytest.raises(ParseError):
        parse_keyed(v1, "inactive_file")  # only in other keys' names
    v2 = b"anon 1\ninactive_file 20\n"
    with pytest.raises(ParseError):
        parse_keyed(v2, "total_inactive_file")
    assert parse_keyed(v2, "inactive_file") == 20
    with pytest.raises(ParseError):
        parse_keyed(b"usage_usec 5", "usage_usec")  # cut before its newline
    with pytest.raises(ParseError):
        parse_keyed(b"usage_usec 5 6\n", "usage_usec")


@ROUND_TRIP
@given(case=io_stat_files())
def test_io_stat_round_trip(case: tuple[bytes, tuple[int, int]]) -> None:
    data, expected = case
    with guarded_as_c():
        assert parse_io_stat(data) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"8:0 rbytes=1 wbytes=2",  # cut
        b"rbytes=1 wbytes=2\n",  # no device
        b"8:0 rbytes=1 wbytes\n",
        b"8:0 rbytes=-1 wbytes=2\n",
        b"8:0 rbytes=18446744073709551616\n",
        b" rbytes=1\n",
    ],
)
def test_io_stat_malformed(text: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse_io_stat(text)


@ROUND_TRIP
@given(case=blkio_files())
def test_blkio_bytes_round_trip(case: tuple[bytes, tuple[int, int]]) -> None:
    data, expected = case
    with guarded_as_c():
        assert parse_blkio_bytes(data) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"8:0 Read 1",  # cut
        b"8:0 Read\n",
        b"8:0 Read 1 2\n",
        b"Read 1\n",  # no device
        b"Total\n",
        b"Total x\n",
        b"8:0 Read -1\n",
    ],
)
def test_blkio_bytes_malformed(text: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse_blkio_bytes(text)


@pytest.mark.parametrize(
    "extra",
    [
        b" cost.vrate=135.29 cost.usage=5",  # iocost enabled: the root cgroup's lines
        b" use_delay=0 delay_nsec=0 depth=max avg_lat=0 win=0",  # iolatency, debug stats on
        b" use_delay=0 delay_nsec=0 missed=0 total=0 depth=max",  # ... on an SSD
    ],
)
def test_io_stat_skips_values_of_other_policies(extra: bytes) -> None:
    # Other blk-cgroup policies append key=value pairs to a device line, not all of them
    # numbers (blk-iocost.c ioc_pd_stat, blk-iolatency.c iolatency_pd_stat). The parser only
    # needs rbytes and wbytes, yet any value it cannot read as a u64 fails the whole file.
    line = b"8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0" + extra + b"\n"
    with guarded_as_c():
        assert parse_io_stat(line) == (4096, 512)


def test_empty_io_files_are_no_io() -> None:
    # A cgroup that did no I/O: io.stat is empty, blkio files hold only "Total 0".
    assert parse_io_stat(b"") == (0, 0)
    assert parse_blkio_bytes(b"Total 0\n") == (0, 0)
    assert parse_blkio_bytes(b"") == (0, 0)


@ROUND_TRIP
@given(case=cpu_lists())
@example(case=(b"0-1048575\n", 2**20))
def test_cpu_list_round_trip(case: tuple[bytes, int]) -> None:
    data, count = case
    with guarded_as_c():
        assert parse_cpu_list(data) == count


@pytest.mark.parametrize(
    "text",
    [b"3-1", b"1,,2", b"1-", b"-1", b"1,", b",1", b"", b"\n", b"1-2-3", b"1 2", b"1\n2", b"a"],
)
def test_cpu_list_malformed(text: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse_cpu_list(text)


# ---- Worked examples from real systems ------------------------------------------------------

DOCKER_ID = "3f1c0b6a9e2d4c58b7a1e0f9d8c7b6a5e4d3c2b1a0f9e8d7c6b5a4e3d2c1b0a9"
DOCKER_V1_CGROUP = f"""\
12:hugetlb:/docker/{DOCKER_ID}
11:cpuset:/docker/{DOCKER_ID}
10:memory:/docker/{DOCKER_ID}
9:blkio:/docker/{DOCKER_ID}
8:net_cls,net_prio:/docker/{DOCKER_ID}
7:perf_event:/docker/{DOCKER_ID}
6:pids:/docker/{DOCKER_ID}
5:freezer:/docker/{DOCKER_ID}
4:cpu,cpuacct:/docker/{DOCKER_ID}
3:devices:/docker/{DOCKER_ID}
2:rdma:/
1:name=systemd:/docker/{DOCKER_ID}
""".encode()
_RO = "ro,nosuid,nodev,noexec,relatime"
DOCKER_V1_MOUNTINFO = f"""\
1040 1018 0:58 / / rw,relatime master:498 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF,upperdir=/var/lib/docker/overlay2/0a1b/diff,workdir=/var/lib/docker/overlay2/0a1b/work
1041 1040 0:61 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1044 1040 0:62 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
1045 1044 0:63 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
1046 1045 0:29 /docker/{DOCKER_ID} /sys/fs/cgroup/systemd {_RO} master:11 - cgroup cgroup rw,xattr,name=systemd
1047 1045 0:33 /docker/{DOCKER_ID} /sys/fs/cgroup/cpuset {_RO} master:15 - cgroup cgroup rw,cpuset
1048 1045 0:35 /docker/{DOCKER_ID} /sys/fs/cgroup/memory {_RO} master:17 - cgroup cgroup rw,memory
1049 1045 0:36 /docker/{DOCKER_ID} /sys/fs/cgroup/blkio {_RO} master:18 - cgroup cgroup rw,blkio
1050 1045 0:37 /docker/{DOCKER_ID} /sys/fs/cgroup/net_cls,net_prio {_RO} master:19 - cgroup cgroup rw,net_cls,net_prio
1051 1045 0:40 /docker/{DOCKER_ID} /sys/fs/cgroup/cpu,cpuacct {_RO} master:22 - cgroup cgroup rw,cpu,cpuacct
1052 1018 8:1 /var/lib/docker/containers/{DOCKER_ID}/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw,errors=remount-ro
""".encode()  # noqa: E501


def test_docker_cgroup_v1() -> None:
    with guarded_as_c():
        paths = parse_proc_cgroup(DOCKER_V1_CGROUP)
        found = {c: mountinfo_find(DOCKER_V1_MOUNTINFO, c) for c in CGROUP_CONTROLLERS}
    own = f"/docker/{DOCKER_ID}"
    assert paths == dict.fromkeys(("cpu", "cpuacct", "cpuset", "memory", "blkio"), own)
    # No cgroup namespace: each mount's root is the container's own path, which the monitor
    # must strip from the /proc/self/cgroup path.
    assert found["memory"] == MountinfoLine(own, "/sys/fs/cgroup/memory", "cgroup", "rw,memory")
    assert found["cpu"] == found["cpuacct"]
    assert found["cpu"] is not None and found["cpu"].mount_point == "/sys/fs/cgroup/cpu,cpuacct"
    assert found["cpuset"] is not None and found["cpuset"].super_options == "rw,cpuset"
    assert found["blkio"] is not None and found["blkio"].mount_point == "/sys/fs/cgroup/blkio"
    assert found["unified"] is None
    # The container's cgroup files.
    assert parse_limit(b"-1\n") == NO_LIMIT  # cpu.cfs_quota_us
    assert parse_limit(b"100000\n") == 100_000  # cpu.cfs_period_us
    assert parse_limit(b"9223372036854771712\n") == 0x7FFFFFFFFFFFF000  # memory.limit_in_bytes
    assert parse_cpu_list(b"0-3,8-11\n") == 8
    v1_stat = (
        b"cache 1200000\nrss 3400000\nrss_huge 0\nshmem 0\nmapped_file 8000\ninactive_file 70\n"
        b"active_file 80\nhierarchical_memory_limit 268435456\ntotal_cache 1200000\n"
        b"total_rss 3400000\ntotal_inactive_file 700000\ntotal_active_file 500000\n"
    )
    assert parse_keyed(v1_stat, "total_inactive_file") == 700_000
    assert parse_keyed(v1_stat, "inactive_file") == 70
    blkio = (
        b"8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n"
        b"8:0 Total 12288\n253:0 Read 100\n253:0 Write 0\n253:0 Sync 100\n253:0 Async 0\n"
        b"253:0 Discard 0\n253:0 Total 100\nTotal 12388\n"
    )
    assert parse_blkio_bytes(blkio) == (4196, 8192)


K8S_V2_MOUNTINFO = b"""\
2243 2242 0:408 / / rw,relatime master:721 - overlay overlay rw,lowerdir=/var/lib/containerd/a/fs,upperdir=/var/lib/containerd/b/fs,workdir=/var/lib/containerd/b/work
2244 2243 0:410 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
2245 2243 0:411 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
2246 2243 0:412 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
2247 2246 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
"""  # noqa: E501


def test_kubernetes_pod_cgroup_v2_with_namespace() -> None:
    with guarded_as_c():
        assert parse_proc_cgroup(b"0::/\n") == {"unified": "/"}
        assert mountinfo_find(K8S_V2_MOUNTINFO, "unified") == MountinfoLine(
            "/", "/sys/fs/cgroup", "cgroup2", "rw,nsdelegate,memory_recursiveprot"
        )
        # memory_recursiveprot is not the memory controller, and cgroup2 is not v1.
        for controller in V1_NAMES:
            assert mountinfo_find(K8S_V2_MOUNTINFO, controller) is None
    assert parse_cpu_max(b"50000 100000\n") == (50_000, 100_000)
    assert parse_cpu_max(b"max 100000\n") == (NO_LIMIT, 100_000)
    assert parse_limit(b"268435456\n") == 268435456  # memory.max
    assert parse_limit(b"max\n") == NO_LIMIT
    assert parse_cpu_list(b"0-1\n") == 2  # cpuset.cpus.effective
    cpu_stat = (
        b"usage_usec 8123456\nuser_usec 6000000\nsystem_usec 2123456\n"
        b"core_sched.force_idle_usec 0\nnr_periods 120\nnr_throttled 7\nthrottled_usec 345678\n"
        b"nr_bursts 0\nburst_usec 0\n"
    )
    assert parse_keyed(cpu_stat, "usage_usec") == 8_123_456
    v2_stat = b"anon 104857600\nfile 52428800\nactive_file 20971520\ninactive_file 31457280\n"
    assert parse_keyed(v2_stat, "inactive_file") == 31_457_280
    io_stat = (
        b"259:0 rbytes=1048576 wbytes=4096 rios=256 wios=1 dbytes=0 dios=0\n"
        b"8:0 rbytes=512 wbytes=0 rios=1 wios=0 dbytes=0 dios=0 cost.usage=10\n"
    )
    assert parse_io_stat(io_stat) == (1048576 + 512, 4096)


HYBRID_PATH = "/user.slice/user-1000.slice/session-2.scope"
HYBRID_CGROUP = f"""\
12:cpuset:/
11:memory:/user.slice/user-1000.slice/session-2.scope
10:blkio:/user.slice
9:pids:/user.slice/user-1000.slice/session-2.scope
5:cpu,cpuacct:/user.slice
1:name=systemd:{HYBRID_PATH}
0::{HYBRID_PATH}
""".encode()
HYBRID_MOUNTINFO = b"""\
25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpuset
31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
33 25 0:30 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,blkio
"""  # noqa: E501


def test_hybrid_host() -> None:
    with guarded_as_c():
        paths = parse_proc_cgroup(HYBRID_CGROUP)
        found = {c: mountinfo_find(HYBRID_MOUNTINFO, c) for c in CGROUP_CONTROLLERS}
    assert paths == {
        "unified": HYBRID_PATH,
        "cpu": "/user.slice",
        "cpuacct": "/user.slice",
        "cpuset": "/",
        "memory": HYBRID_PATH,
        "blkio": "/user.slice",
    }
    expected_mounts = {
        "unified": "/sys/fs/cgroup/unified",
        "cpu": "/sys/fs/cgroup/cpu,cpuacct",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
        "cpuset": "/sys/fs/cgroup/cpuset",
        "memory": "/sys/fs/cgroup/memory",
        "blkio": "/sys/fs/cgroup/blkio",
    }
    assert {c: m.mount_point if m else None for c, m in found.items()} == expected_mounts
    assert all(m is not None and m.root == "/" for m in found.values())


def test_mount_point_with_escaped_space() -> None:
    data = (
        b"25 24 0:22 / /sys/fs/cgroup rw shared:9 - tmpfs tmpfs rw,mode=755\n"
        b"40 25 0:40 /my\\040root /sys/fs/cgroup/my\\040cgroup rw,relatime shared:20"
        b" - cgroup cgroup rw,memory\n"
    )
    with guarded_as_c():
        m = mountinfo_find(data, "memory")
        assert m is not None
        assert m == MountinfoLine(
            r"/my\040root", r"/sys/fs/cgroup/my\040cgroup", "cgroup", "rw,memory"
        )
        assert unescape_mount_path(m.mount_point.encode()) == b"/sys/fs/cgroup/my cgroup"
        assert unescape_mount_path(m.root.encode()) == b"/my root"


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\n",
        b"1:cpu:/",  # cut before its newline
        b"1:cpu:/\nbad\n",
        b":cpu:/\n",
        b"x:cpu:/\n",
        b"1:cpu\n",
        b"1\n",
        b"-1:cpu:/\n",
    ],
)
def test_proc_cgroup_malformed(text: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse_proc_cgroup(text)


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"26 25 0:23 / /sys/fs/cgroup rw shared:10 cgroup2 cgroup2 rw",  # no separator
        b"26 25 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2",  # no super options
        b"26 25 0:23 / /sys/fs/cgroup - cgroup2 cgroup2 rw",  # no mount options
        b"26 25 0:23 / - cgroup2 cgroup2 rw",
    ],
)
def test_mountinfo_line_malformed(line: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse_mountinfo_line(line)
    # Each may be a cgroup mount ("cgroup" in it): the search fails rather than skip it.
    if line:
        with guarded_as_c(), pytest.raises(ParseError):
            mountinfo_find(line + b"\n", "unified")


# ---- The kernel's exact mountinfo format, NUL bytes, paths outside the mount ------------------


def test_mountinfo_empty_source_is_the_kernels_format() -> None:
    # mount -t tmpfs "" /x: show_mountinfo writes the empty source between single spaces.
    line = b"36 25 0:31 / /x rw,relatime shared:5 - tmpfs  rw,size=1024k"
    data = line + b"\n" + b"37 25 0:32 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
    with guarded_as_c():
        assert parse_mountinfo_line(line) == MountinfoLine("/", "/x", "tmpfs", "rw,size=1024k")
        assert mountinfo_find(data, "unified") == MountinfoLine(
            "/", "/sys/fs/cgroup", "cgroup2", "rw"
        )


def _search(data: bytes, controller: str) -> tuple[int, int, int, int]:
    ptr = ffi.new("char[]", data)
    out, scan = ffi.new("dm_mountinfo_line *"), ffi.new("dm_mountinfo_scan *")
    rc = lib.dm_mountinfo_search(ptr, len(data), CGROUP_CONTROLLERS.index(controller), out, scan)
    return rc, scan.lines, scan.skipped, scan.bad_line


CGROUP2_LINE = b"37 25 0:32 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"


def test_mountinfo_line_that_does_not_parse_is_skipped_unless_it_may_be_cgroup() -> None:
    # Two blanks in a row outside the source, a missing field: not what the kernel writes, and
    # not a cgroup mount: skipped and counted, the cgroup2 mount after it found.
    bad = b"36 25 0:31 /  /x rw - tmpfs tmpfs rw\n40 1 0:1 / /y rw - ext4 /dev/sda1\n"
    assert mountinfo_find(bad + CGROUP2_LINE, "unified") == MountinfoLine(
        "/", "/sys/fs/cgroup", "cgroup2", "rw"
    )
    assert _search(bad + CGROUP2_LINE, "unified") == (lib.DM_OK, 3, 2, 0)
    assert _search(bad, "unified") == (lib.DM_E_AGAIN, 2, 2, 0)
    # One that may be a cgroup mount fails the search, by its line number.
    damaged = b"38 25 0:33 / /sys/fs/cgroup/memory rw - cgroup cgroup\n"
    assert _search(bad + damaged + CGROUP2_LINE, "unified") == (lib.DM_E_PARSE, 3, 2, 3)
    with pytest.raises(ParseError):
        mountinfo_find(damaged + CGROUP2_LINE, "memory")


@pytest.mark.parametrize(
    "line",
    [
        b"37 25 0:32 / /sys/fs/cgroup\0x rw - cgroup2 cgroup2 rw",
        b"37 25 0:32 /\0 /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
        b"37 25 0:32 / /sys/fs/cgroup rw - tmpfs tmpfs rw,\0",
        b"37 25 0:32 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw extra",
        b"37 25 0:32 / /sys/fs/cgroup rw  - cgroup2 cgroup2 rw",
        b"37 25 0:32 / /sys/fs/cgroup rw -  cgroup2 rw",
        b"37 25 0:32 / /sys/fs/cgroup rw - cgroup2 cgroup2 ",
        b"x 25 0:32 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
        b"37 25 032 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
    ],
)
def test_mountinfo_line_not_in_the_kernels_format(line: bytes) -> None:
    with guarded_as_c(), pytest.raises(ParseError):
        parse_mountinfo_line(line)


def test_a_nul_in_a_mount_path_is_an_error() -> None:
    # Skipped as a line, the NUL still fails the search: it could hide a cgroup mount.
    with pytest.raises(ParseError):
        mountinfo_find(b"37 25 0:32 / /sys/fs/cg\0 rw - tmpfs tmpfs rw\n" + CGROUP2_LINE, "unified")
    for text in (b"/sys/fs/cgroup\\000", b"/a\0b"):
        with pytest.raises(ParseError):
            unescape_mount_path(text)


@pytest.mark.parametrize(
    "data", [b"0::/kubepods.slice\0/pod1\n", b"4:memory:/docker/\0abc\n0::/\n", b"0\0::/\n"]
)
def test_a_nul_in_proc_self_cgroup_is_malformed(data: bytes) -> None:
    # As a C string the path would end at the NUL: another (the parent's) directory.
    with guarded_as_c(), pytest.raises(ParseError):
        parse_proc_cgroup(data)


def cgroup_subpath(path: bytes, mount_root: bytes) -> Any:
    """dm_cgroup_subpath: the part of `path` below the mount root, or the error code."""
    p, r = ffi.new("char[]", path), ffi.new("char[]", mount_root)
    off, n, why = ffi.new("size_t *"), ffi.new("size_t *"), ffi.new("char **")
    rc = lib.dm_cgroup_subpath(p, len(path), r, len(mount_root), off, n, why)
    if rc != lib.DM_OK:
        assert why[0] != ffi.NULL
        return rc
    return path[off[0] : off[0] + n[0]]


@pytest.mark.parametrize(
    ("path", "mount_root", "expected"),
    [
        # A mount of the hierarchy's (or the namespace's) root takes any path.
        (b"/", b"/", b""),
        (b"/kubepods.slice/pod1/ctr1", b"/", b"/kubepods.slice/pod1/ctr1"),
        # No cgroup namespace (docker on v1, plain runc): the mount root is the container's.
        (b"/docker/abc", b"/docker/abc", b""),
        (b"/docker/abc/inner", b"/docker/abc", b"/inner"),
        (b"/docker/abc:1", b"/docker/abc:1", b""),
        # Outside the mount's root: another directory would be measured.
        (b"/docker/abcdef", b"/docker/abc", "unsupported"),
        (b"/docker/other", b"/docker/abc", "unsupported"),
        (b"/", b"/docker/abc", "unsupported"),
        (b"/docker", b"/docker/abc", "unsupported"),
        # unshare -C without a remount: the mount's root is above the namespace's root.
        (b"/", b"/../..", "unsupported"),
        (b"/", b"/..", "unsupported"),
        (b"/a", b"/../a", "unsupported"),
        # A ".." in the cgroup path leads out of the mount (a cgroup beside the namespace's).
        (b"/../..", b"/", "unsupported"),
        (b"/kubepods.slice/pod1/ctr1/../../..", b"/", "unsupported"),
        (b"/docker/abc/..", b"/docker/abc", "unsupported"),
        (b"/../sibling", b"/", "unsupported"),
        # Not the kernel's: not absolute, empty or "." components.
        (b"", b"/", "parse"),
        (b"docker/abc", b"/", "parse"),
        (b"/a//b", b"/", "parse"),
        (b"/a/./b", b"/", "parse"),
        (b"/a/", b"/", "parse"),
        (b"/a", b"", "parse"),
        (b"/a", b"a", "parse"),
        (b"/a\0b", b"/", "parse"),
        # Names that only look like dots are names.
        (b"/...", b"/", b"/..."),
        (b"/..a/.b", b"/", b"/..a/.b"),
    ],
)
def test_cgroup_path_against_the_mount_root(path: bytes, mount_root: bytes, expected: Any) -> None:
    codes = {"unsupported": lib.DM_E_UNSUPPORTED, "parse": lib.DM_E_PARSE}
    assert cgroup_subpath(path, mount_root) == codes.get(expected, expected)


# ---- Stacked devices count once (issue 11, fault 6) ------------------------------------------

# LVM on sda: io.stat and blkio list the dm device and the disk under it, each with the bytes
# that went through it (a bio is charged to dm-0, then again as its clone reaches sda).
STACKED_IO_STAT = (
    b"253:0 rbytes=4096000 wbytes=8192000 rios=100 wios=200 dbytes=0 dios=0\n"
    b"8:0 rbytes=4096000 wbytes=8192000 rios=100 wios=200 dbytes=0 dios=0\n"
    b"259:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n"
)
STACKED_BLKIO = (
    b"253:0 Read 4096000\n253:0 Write 8192000\n253:0 Total 12288000\n"
    b"8:0 Read 4096000\n8:0 Write 8192000\n8:0 Total 12288000\n"
    b"259:0 Read 1000\n259:0 Write 2000\n259:0 Total 3000\nTotal 12291000\n"
)
WHOLE_DISKS = [(8, 0), (259, 0)]  # what /proc/diskstats's whole disks are: not dm-0


@pytest.mark.parametrize(
    ("parse", "data"), [(parse_io_stat, STACKED_IO_STAT), (parse_blkio_bytes, STACKED_BLKIO)]
)
def test_stacked_devices_count_once(parse: Callable[..., tuple[int, int]], data: bytes) -> None:
    assert parse(data) == (2 * 4096000 + 1000, 2 * 8192000 + 2000)  # every line: twice
    assert parse(data, DiskSet(WHOLE_DISKS)) == (4096000 + 1000, 8192000 + 2000)
    assert parse(data, DiskSet([(259, 0)])) == (1000, 2000)
    assert parse(data, DiskSet([])) == (0, 0)


@pytest.mark.parametrize(
    "line", [b"8:0x rbytes=1 wbytes=1\n", b"8: rbytes=1 wbytes=1\n", b":0 rbytes=1 wbytes=1\n",
             b"4294967296:0 rbytes=1 wbytes=1\n", b"8:0:1 rbytes=1 wbytes=1\n"],
)  # fmt: skip
def test_io_stat_device_is_two_decimals_around_a_colon(line: bytes) -> None:
    with pytest.raises(ParseError):
        parse_io_stat(line)


def test_a_limit_of_u64_max_with_leading_zeros_is_no_limit() -> None:
    # Found by the fuzz test above: the number, not its spelling, says "no limit".
    assert parse_limit(b"018446744073709551615\n") == NO_LIMIT
    assert parse_limit(b"018446744073709551614\n") == U64_MAX - 1
