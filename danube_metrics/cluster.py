"""Publish load reports to a shared store and watch the live cluster (issue 15).

::

    from danube_metrics.cluster import ClusterView, DirectoryStore, EtcdStore, LoadPublisher

    store = EtcdStore(["127.0.0.1:2379"])  # or DirectoryStore("/run/danube-load")
    with LoadPublisher(store, broker_id=1, topics=lambda: ["/default/t1"]):
        ...  # the broker runs; a background thread publishes every 5 s

    with ClusterView(store) as view:  # the load manager's side
        view.wait_until(lambda reports: len(reports) >= 3, timeout=10)
        print(view.rank("balanced"), view.select())

The key layout is the Danube broker's (docs/semantics.md, "Cluster publishing"): the report,
in the upstream schema, at ``{prefix}/load/{broker_id}`` and the broker's liveness at
``{prefix}/register/{broker_id}``, under a lease of ``ttl`` seconds renewed every third of it.
Unlike upstream, the load key is attached to the same lease, so a dead broker's last report
disappears with it. A folder (:class:`DirectoryStore`) keeps one report file per broker and
counts a broker alive while its file was written (or renewed) within the TTL.

This module needs no C extension: a load manager that only watches imports it without one. A
publisher without ``make_report`` measures this machine, which loads the extension then.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_PREFIX",
    "DEFAULT_TTL",
    "Change",
    "ClusterView",
    "DirectoryStore",
    "EtcdStore",
    "LoadPublisher",
    "Registration",
    "ReportStore",
    "Snapshot",
    "StoreEvent",
    "open_store",
]

import asyncio
import base64
import binascii
import functools
import json
import logging
import math
import os
import random
import re
import socket
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Optional, Union, cast

from danube_metrics.errors import (
    DanubeMetricsError,
    LeaseLostError,
    NotReadyError,
    NotSupportedError,
    ReportFormatError,
    StoreUnavailableError,
)
from danube_metrics.loads import U64_MAX
from danube_metrics.rankings import (
    BALANCED,
    DEFAULT_MAX_AGE,
    BrokerScore,
    BrokerSelector,
    rank_brokers,
    score_brokers,
)
from danube_metrics.report import UPSTREAM, LoadReport, TopicLoad

if TYPE_CHECKING:
    from danube_metrics.monitor import ResourceMonitor

log = logging.getLogger("danube_metrics")

#: Upstream's registration TTL (seconds) and the seed's report interval.
DEFAULT_TTL = 32.0
DEFAULT_INTERVAL = 5.0
DEFAULT_PREFIX = "/cluster"

# Retry delays after a failure: doubling from the first, capped (and never beyond a third of
# the TTL, so that a short outage does not make the publisher miss its lease's renewal).
BACKOFF_FIRST = 0.1
BACKOFF_CAP = 5.0

_BROKER_ID = re.compile(r"[0-9]{1,20}")


# Keys whose parts a store (and broker ids the view) remembers: two per broker, for many more
# brokers than a cluster has; bounded, against a writer of many keys.
_KEYS_REMEMBERED = 65536


@functools.lru_cache(maxsize=_KEYS_REMEMBERED)  # a view sees the same few keys over and over
def _broker_id(text: str) -> Optional[int]:
    """The u64 a key's last part names, or None when it names none."""
    if not _BROKER_ID.fullmatch(text):
        return None
    value = int(text)
    return value if value <= U64_MAX else None


def backoff_delay(failures: int, cap: float) -> float:
    """The wait after the n-th failure in a row: 0.1 s doubling up to ``cap``, less up to a
    half at random so that publishers cut off together do not retry in step."""
    delay = min(cap, BACKOFF_FIRST * 2.0 ** min(failures - 1, 30))
    return delay * random.uniform(0.5, 1.0)


# The store interface ----------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Everything under the prefix: each broker's raw report (by the key's last part, a broker
    id as text unless another writer put something else there) and the brokers registered."""

    loads: Mapping[str, bytes]
    registered: frozenset[str]


@dataclass(frozen=True)
class Change:
    """One key changed: ``kind`` "load" or "register", ``value`` None when it was deleted."""

    kind: str
    broker: str
    value: Optional[bytes]


StoreEvent = Union[Snapshot, Change]


class Registration(ABC):
    """One broker's presence in a store, from :meth:`ReportStore.register`."""

    broker_id: int
    ttl: float

    @abstractmethod
    def publish(self, report_json: str) -> None:
        """Writes the broker's report. :raises LeaseLostError:, :raises StoreUnavailableError:"""

    @abstractmethod
    def renew(self) -> None:
        """Keeps the registration alive for another TTL. :raises LeaseLostError: if it expired."""

    @abstractmethod
    def revoke(self) -> None:
        """Removes the registration and the report at once."""


class ReportStore(ABC):
    """Where brokers publish reports and a load manager watches them."""

    #: The TTL a publisher takes when it is given none (seconds).
    default_ttl: float = DEFAULT_TTL

    @abstractmethod
    def register(self, broker_id: int, ttl: float) -> Registration:
        """Registers a broker for ``ttl`` seconds. :raises StoreUnavailableError:"""

    @abstractmethod
    def watch(self, stop: threading.Event) -> Iterator[StoreEvent]:
        """A :class:`Snapshot`, then each :class:`Change` (or a new Snapshot) as it happens,
        until ``stop`` is set. :raises StoreUnavailableError: when the store cannot be
        reached; a new call starts again with a Snapshot."""

    def interrupt(self) -> None:  # noqa: B027 (a hook stores without a blocking watch skip)
        """Wakes a :meth:`watch` blocked on the store, after ``stop`` was set."""

    def close(self) -> None:  # noqa: B027 (nothing to release by default)
        """Releases connections."""

    def __enter__(self) -> ReportStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str, *, timeout: float = 2.0) -> ReportStore:
    """``etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`` or ``dir://PATH`` (a folder; ``dir:PATH``
    too). :raises ValueError: for any other form."""
    if url.startswith("etcd://"):
        rest = url[len("etcd://") :]
        hosts, _, prefix = rest.partition("/")
        endpoints = [h for h in hosts.split(",") if h]
        if not endpoints:
            raise ValueError(f"{url}: no etcd endpoint (expected etcd://HOST:PORT[,...])")
        return EtcdStore(
            endpoints, prefix="/" + prefix if prefix else DEFAULT_PREFIX, timeout=timeout
        )
    for scheme in ("dir://", "dir:"):
        if url.startswith(scheme) and len(url) > len(scheme):
            return DirectoryStore(url[len(scheme) :])
    raise ValueError(f"{url}: a store is etcd://HOST:PORT[,HOST:PORT...] or dir://PATH")


# A folder ---------------------------------------------------------------------------------


class DirectoryStore(ReportStore):
    """One JSON file per broker in a folder, ``{broker_id}.json``, the report in the upstream
    schema (so ``danube-metrics rank`` reads the files too).

    Each write goes to a temporary file in the folder, is flushed to disk and renamed over
    the old one, so a reader sees the old report or the new one, never half of one. A broker
    is alive while its file is younger than ``ttl`` (its modification time; a renewal touches
    it). The TTL is the folder's: every publisher and reader of the folder must use the same.
    Expired files are removed by the live publishers once they are two TTLs old. The folder
    is watched by listing it every ``poll_interval`` seconds.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        ttl: float = DEFAULT_TTL,
        poll_interval: float = 0.2,
    ) -> None:
        if not (ttl > 0 and math.isfinite(ttl)):
            raise ValueError(f"ttl must be > 0 seconds, got {ttl}")
        self.path = Path(path)
        self.default_ttl = float(ttl)
        self.poll_interval = poll_interval

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.path)!r}, ttl={self.default_ttl:g})"

    def register(self, broker_id: int, ttl: float) -> Registration:
        if ttl != self.default_ttl:
            raise ValueError(
                f"a folder's TTL is the store's ({self.default_ttl:g} s), not {ttl:g} s: "
                "open it with DirectoryStore(path, ttl=...)"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"{self.path}: cannot create the folder: {exc}") from exc
        return _FileRegistration(self, broker_id)

    def file_of(self, broker_id: int) -> Path:
        return self.path / f"{broker_id}.json"

    def write(self, broker_id: int, text: str) -> None:
        """Replaces the broker's file atomically (temporary file, fsync, rename, fsync of the
        folder so that the rename itself survives a crash)."""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{broker_id}.", suffix=".tmp", dir=self.path)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.file_of(broker_id))
            except BaseException:
                with _suppress_os_error():
                    os.unlink(tmp)
                raise
            dir_fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StoreUnavailableError(f"{self.path}: cannot write a report: {exc}") from exc

    def purge_expired(self, now: Optional[float] = None) -> None:
        """Removes the files of brokers gone for two TTLs (a killed publisher's)."""
        when = time.time() if now is None else now
        for name, stat in self._listing().items():
            if when - stat[0] / 1e9 > 2 * self.default_ttl:
                with _suppress_os_error():
                    # Looked at once more right before: a publisher may have just come back.
                    path = self.path / f"{name}.json"
                    if when - path.stat().st_mtime > 2 * self.default_ttl:
                        path.unlink()

    def _listing(self) -> dict[str, tuple[int, int, int]]:
        """Each ``*.json`` file's broker part and (mtime ns, size, inode); not temporaries."""
        found: dict[str, tuple[int, int, int]] = {}
        try:
            entries = list(os.scandir(self.path))
        except FileNotFoundError:
            return found
        except OSError as exc:
            raise StoreUnavailableError(f"{self.path}: cannot list the folder: {exc}") from exc
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not name.endswith(".json"):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue  # removed since the listing
            found[name[: -len(".json")]] = (st.st_mtime_ns, st.st_size, st.st_ino)
        return found

    def watch(self, stop: threading.Event) -> Iterator[StoreEvent]:
        seen: dict[str, tuple[int, int, int]] = {}
        contents: dict[str, bytes] = {}
        last: Optional[Snapshot] = None
        while not stop.is_set():
            listing = self._listing()
            for name, stat in listing.items():
                if seen.get(name) != stat:
                    try:
                        contents[name] = (self.path / f"{name}.json").read_bytes()
                    except OSError:
                        listing.pop(name, None)  # gone between the listing and the read
                        continue
            seen = listing
            now = time.time()
            live = {
                name: contents[name]
                for name, stat in listing.items()
                if name in contents and now - stat[0] / 1e9 < self.default_ttl
            }
            for name in list(contents):
                if name not in listing:
                    del contents[name]
            snapshot = Snapshot(live, frozenset(live))
            if snapshot != last:
                last = snapshot
                yield snapshot
            stop.wait(self.poll_interval)


class _FileRegistration(Registration):
    def __init__(self, store: DirectoryStore, broker_id: int) -> None:
        self.store = store
        self.broker_id = broker_id
        self.ttl = store.default_ttl
        self._written = False

    def publish(self, report_json: str) -> None:
        self.store.write(self.broker_id, report_json)
        self._written = True

    def renew(self) -> None:
        if not self._written:
            return
        try:
            os.utime(self.store.file_of(self.broker_id))
        except FileNotFoundError as exc:
            self._written = False
            raise LeaseLostError(f"{self.store.file_of(self.broker_id)} was removed") from exc
        except OSError as exc:
            raise StoreUnavailableError(f"{self.store.path}: cannot renew: {exc}") from exc
        self.store.purge_expired()

    def revoke(self) -> None:
        with _suppress_os_error():
            self.store.file_of(self.broker_id).unlink()


class _suppress_os_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[type[BaseException]], *rest: object) -> bool:
        return kind is not None and issubclass(kind, OSError)


# etcd -------------------------------------------------------------------------------------


def _b64(text: Union[str, bytes]) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(data).decode("ascii")


def _prefix_end(prefix: bytes) -> bytes:
    """The end of the key range holding every key that starts with ``prefix``."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


# Bytes asked of a watch stream at a time: a read returns what has come, up to the end of the
# HTTP chunk it is in (etcd writes each watch response as one chunk).
_WATCH_READ = 65536
# A stream that is not chunked (a proxy's): requests' own read size, where a read waits until
# that many bytes are in.
_UNCHUNKED_READ = 512
# The gateway writes UTF-8 (JSON's own encoding), so a line is decoded as such and read by one
# decoder made once.
_WATCH_JSON = json.JSONDecoder()
# The response etcd's gateway writes for one PUT, byte for byte (grpc-gateway's compact JSON
# in the protobuf's field order; no "type": PUT is the enum's default), up to the value, and
# after it: a view of 1,000 brokers reads one per change, and this match, a search for the
# value's closing quote and the C decoder cost less than half what decoding the JSON and the
# value with binascii does. Any other response (a DELETE, several events, an error, a progress
# notification, another gateway's spacing) is decoded as JSON.
_PUT_HEAD = re.compile(
    rb'\{"result":\{"header":\{[^{}]*\},"events":\[\{"kv":\{"key":"([A-Za-z0-9+/=]*)",'
    rb'"create_revision":"[0-9]+","mod_revision":"([0-9]+)","version":"[0-9]+","value":"'
).match
_PUT_TAIL = re.compile(rb'"(?:,"lease":"[0-9]+")?\}\}\]\}\}').fullmatch


def _one_put(
    line: bytes, decode_value: Callable[[bytes], Optional[bytes]]
) -> Optional[tuple[bytes, int, bytes]]:
    """The key (base64), revision and value of etcd's response for one PUT, or None for any
    other response. ``decode_value`` (:func:`_base64_decoder`) refuses a byte outside
    base64's alphabet, so a value whose quotes hold anything the JSON decoder would read
    otherwise (an escape, a control character) is left to it."""
    head = _PUT_HEAD(line)
    if head is None:
        return None
    start = head.end()
    end = line.find(b'"', start)
    if end < 0 or _PUT_TAIL(line, end) is None:
        return None
    value = decode_value(line[start:end])
    if value is None:
        return None
    return head.group(1), int(head.group(2)), value


@functools.cache
def _base64_decoder() -> Callable[[bytes], Optional[bytes]]:
    """The C extension's decoder of padded standard base64 (None for any other text), or
    :func:`_decode_base64` when the extension is not there. Either gives, for a text it
    decodes, what binascii gives: what the JSON path decodes."""
    try:
        from danube_metrics._base64 import decode_base64
    except ImportError:
        return _decode_base64
    return decode_base64


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def _decode_base64(text: bytes) -> Optional[bytes]:
    """binascii's decoding of a text of base64's alphabet only; None for any other, or one
    binascii refuses (its padding), which the JSON path then refuses with binascii's word."""
    if text.translate(None, _BASE64_ALPHABET):
        return None
    try:
        return binascii.a2b_base64(text)
    except binascii.Error:
        return None


def _chunked_body(response: Any) -> Optional[BinaryIO]:
    """The buffered socket file a chunked response's body is read from (urllib3's own source
    for its chunked reads, where it reached it in every release since 1.x), or None when the
    response is not chunked or urllib3 no longer keeps it there."""
    raw = response.raw
    body = getattr(getattr(raw, "_fp", None), "fp", None)
    if not getattr(raw, "chunked", False) or not hasattr(body, "readline"):
        return None
    return cast(BinaryIO, body)


# A chunk's size line: hex digits and, rarely, extensions (RFC 9112, 7.1.1).
_MAX_CHUNK_LINE = 1024


def _http_chunks(body: BinaryIO) -> Iterator[bytes]:
    """The data of each chunk of an HTTP/1.1 chunked body, read from ``body`` until the last
    chunk (its trailers are not read: the stream is over). Straight from the socket's buffer:
    urllib3's chunked read, through requests, costs a view of 1,000 brokers a tenth of its CPU,
    as its one read a change passes through six layers.

    :raises ValueError: for a body that breaks the chunked framing or ends within a chunk.
    """
    while True:
        line = body.readline(_MAX_CHUNK_LINE)
        if not line.endswith(b"\n"):
            raise ValueError("the chunked stream ended" if not line else "a chunk size too long")
        size = int(line.split(b";", 1)[0], 16)
        if size <= 0:
            if size == 0:
                return
            raise ValueError(f"a chunk of size {size}")
        data = body.read(size + 2)
        if len(data) != size + 2 or not data.endswith(b"\r\n"):
            raise ValueError("a chunk ended early")
        yield data[:-2]


class _WatchPosition:
    """Where a watch is: the last revision seen, and whether the current stream was heard."""

    __slots__ = ("heard", "revision")

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self.heard = False


class _Resync(Exception):
    """The watch lost its place (compacted, cancelled): start again from a snapshot."""


class EtcdStore(ReportStore):
    """etcd v3 through its JSON gateway (``/v3/...``, etcd 3.4 and later), with the etcd3gw
    client (``pip install 'danube-metrics[etcd]'``).

    ``endpoints``: ``"HOST:PORT"`` strings (or one comma-separated string), the cluster's
    client URLs. Each call goes to the endpoint that answered last and moves on to the next
    when one does not answer, has no leader, or times out after ``timeout`` seconds; when
    none answers, :class:`StoreUnavailableError` names each. The watch is one streaming
    request (``/v3/watch``) read here, since etcd3gw's watcher drops a broken stream without
    a word: a broken stream is resumed on the next endpoint from the revision after the last
    one seen, and a watch idle for ``watch_idle`` seconds is renewed the same way (a member
    that stopped answering must not hold the view).
    """

    def __init__(
        self,
        endpoints: Union[str, Sequence[str]],
        prefix: str = DEFAULT_PREFIX,
        *,
        ttl: float = DEFAULT_TTL,
        timeout: float = 2.0,
        watch_idle: float = 10.0,
    ) -> None:
        try:
            import etcd3gw  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "EtcdStore needs the etcd3gw client: pip install 'danube-metrics[etcd]'"
            ) from exc
        from etcd3gw.client import Etcd3Client

        names = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
        names = [n.strip() for n in names if n.strip()]
        if not names:
            raise ValueError("EtcdStore needs at least one endpoint (HOST:PORT)")
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"prefix must start with / and not end with one, got {prefix!r}")
        self.endpoints = names
        self.prefix = prefix
        self.default_ttl = float(ttl)
        self.timeout = timeout
        self.watch_idle = watch_idle
        self._clients = []
        for name in names:
            host, sep, port = name.rpartition(":")
            if not sep or not port.isdigit():
                raise ValueError(f"{name!r}: an etcd endpoint is HOST:PORT")
            host = host.strip("[]") or "127.0.0.1"
            self._clients.append(Etcd3Client(host, int(port), timeout=timeout, api_path="/v3/"))
        self._current = 0
        self._lock = threading.Lock()
        self._streams: set[Any] = set()
        self._key_parts: dict[Union[str, bytes], tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return f"EtcdStore({','.join(self.endpoints)!r}, prefix={self.prefix!r})"

    def key(self, kind: str, broker_id: Union[int, str]) -> str:
        return f"{self.prefix}/{kind}/{broker_id}"

    def call(self, path: str, body: Mapping[str, Any]) -> Any:
        """POSTs ``body`` to the gateway's ``/v3/{path}`` on the first endpoint that answers.

        :raises LeaseLostError: if etcd says the lease is not found.
        :raises StoreUnavailableError: if no endpoint answers (or has a leader).
        """
        from etcd3gw import exceptions

        with self._lock:
            start = self._current
        problems = []
        for step in range(len(self._clients)):
            index = (start + step) % len(self._clients)
            client = self._clients[index]
            try:
                result = client.post(client.get_url(path), json=body)
            except exceptions.Etcd3Exception as exc:
                text = f"{exc} {getattr(exc, 'detail_text', '')}"
                if "lease not found" in text:
                    raise LeaseLostError(f"etcd: {path}: the lease is not found") from exc
                problems.append(f"{self.endpoints[index]}: {_short(exc)}")
                continue
            except Exception as exc:  # a reset connection, a reply that is not JSON
                problems.append(f"{self.endpoints[index]}: {_short(exc)}")
                continue
            with self._lock:
                self._current = index
            return result
        with self._lock:
            self._current = (start + 1) % len(self._clients)
        raise StoreUnavailableError(f"etcd: {path}: no endpoint answered: " + "; ".join(problems))

    def register(self, broker_id: int, ttl: float) -> Registration:
        if not (ttl >= 1 and math.isfinite(ttl)):
            raise ValueError(f"an etcd lease's TTL is at least 1 s, got {ttl}")
        grant = self.call("lease/grant", {"TTL": math.ceil(ttl), "ID": 0})
        lease = int(grant["ID"])
        value = json.dumps(
            {"broker_id": broker_id, "host": socket.gethostname(), "pid": os.getpid()}
        )
        try:
            self.call(
                "kv/put",
                {
                    "key": _b64(self.key("register", broker_id)),
                    "value": _b64(value),
                    "lease": lease,
                },
            )
        except Exception:
            with _suppress_store_error():
                self.call("kv/lease/revoke", {"ID": lease})
            raise
        return _LeaseRegistration(self, broker_id, float(ttl), lease)

    def snapshot(self) -> tuple[int, Snapshot]:
        """The revision and every key under the prefix."""
        base = (self.prefix + "/").encode()
        result = self.call("kv/range", {"key": _b64(base), "range_end": _b64(_prefix_end(base))})
        loads: dict[str, bytes] = {}
        registered = set()
        for kv in result.get("kvs", []):
            change = self._change(kv, deleted=False)
            if change is None:
                continue
            if change.kind == "load" and change.value is not None:
                loads[change.broker] = change.value
            elif change.kind == "register":
                registered.add(change.broker)
        return int(result["header"]["revision"]), Snapshot(loads, frozenset(registered))

    def _change(self, kv: Mapping[str, Any], deleted: bool) -> Optional[Change]:
        value = None if deleted else binascii.a2b_base64(kv.get("value", ""))
        return self._change_of(kv.get("key", ""), value)

    def _change_of(
        self, encoded_key: Union[str, bytes], value: Optional[bytes]
    ) -> Optional[Change]:
        """The change of a key (base64, as etcd gives it) to ``value`` (None: deleted), or None
        for a key not a broker's."""
        parts = self._key_parts.get(encoded_key)
        if parts is None:
            parts = self._key_parts_of(encoded_key)
        if not parts:
            return None
        return Change(parts[0], parts[1], value)

    def _key_parts_of(self, encoded: Union[str, bytes]) -> tuple[str, ...]:
        """A key's kind and broker parts, or () for a key not a broker's, remembered: a view
        sees the same few keys written over and over (bounded, against a writer of many)."""
        key = binascii.a2b_base64(encoded).decode("utf-8", "replace")
        rest = key[len(self.prefix) + 1 :] if key.startswith(self.prefix + "/") else ""
        kind, sep, broker = rest.partition("/")
        parts = (kind, broker) if sep and kind in ("load", "register") else ()
        if len(self._key_parts) >= _KEYS_REMEMBERED:
            self._key_parts.clear()
        self._key_parts[encoded] = parts
        return parts

    def watch(self, stop: threading.Event) -> Iterator[StoreEvent]:
        revision, snapshot = self.snapshot()
        yield snapshot
        position = _WatchPosition(revision)
        failures = 0
        while not stop.is_set():
            try:
                yield from self._stream(position, stop)
            except _Resync:
                position.revision, snapshot = self.snapshot()
                yield snapshot
            except StoreUnavailableError:
                # The member went away: another one carries on from the same revision. Only
                # when none answers does the caller hear of it.
                failures = 1 if position.heard else failures + 1
                if failures >= len(self._clients):
                    raise
                with self._lock:
                    self._current = (self._current + 1) % len(self._clients)
            else:
                if position.heard:
                    failures = 0

    def _stream(self, position: _WatchPosition, stop: threading.Event) -> Iterator[Change]:
        """The changes after ``position`` from one endpoint, ``position`` kept up to date,
        until the stream breaks, idles for ``watch_idle`` seconds, or ``stop`` is set."""
        import requests

        with self._lock:
            index = self._current
        client = self._clients[index]
        where = f"etcd: watch: {self.endpoints[index]}"
        base = (self.prefix + "/").encode()
        request: dict[str, Any] = {
            "create_request": {
                "key": _b64(base),
                "range_end": _b64(_prefix_end(base)),
                "start_revision": position.revision + 1,
            }
        }
        position.heard = False
        try:
            response = client.session.post(
                client.get_url("watch"),
                json=request,
                stream=True,
                timeout=(self.timeout, self.watch_idle),
            )
        except requests.RequestException as exc:
            raise StoreUnavailableError(f"{where}: {_short(exc)}") from exc
        with self._lock:
            self._streams.add(response)
        try:
            if response.status_code != 200:
                raise StoreUnavailableError(f"{where}: HTTP {response.status_code}")
            # etcd writes each watch response as an HTTP chunk: read from the socket's buffer
            # a chunk at a time (_http_chunks). Should urllib3 keep that buffer elsewhere one
            # day, through requests' reader, asking for whole chunks (its default, 512 bytes,
            # cut each response in three).
            body = _chunked_body(response)
            if body is not None:
                yield from self._changes(_http_chunks(body), position, stop)
            else:
                read_size = _WATCH_READ if response.raw.chunked else _UNCHUNKED_READ
                yield from self._changes(response.iter_content(read_size), position, stop)
        except socket.timeout:
            return  # _http_chunks' idle read (TimeoutError from 3.10 on): renew in place
        except requests.exceptions.ConnectionError as exc:
            # Also how an idle read ends (urllib3's read timeout): renew the watch in place.
            if stop.is_set() or "timed out" in str(exc).lower():
                return
            raise StoreUnavailableError(f"{where}: {_short(exc)}") from exc
        except (requests.RequestException, ValueError, OSError) as exc:
            if stop.is_set():
                return
            raise StoreUnavailableError(f"{where}: {_short(exc)}") from exc
        finally:
            with self._lock:
                self._streams.discard(response)
            response.close()
        if not stop.is_set():
            raise StoreUnavailableError(f"{where}: the stream ended")

    def _changes(
        self, chunks: Iterator[bytes], position: _WatchPosition, stop: threading.Event
    ) -> Iterator[Change]:
        """Each change the watch responses in ``chunks`` carry (one JSON line each), until
        the chunks end or ``stop`` is set."""
        decode = _WATCH_JSON.decode
        decode_value = _base64_decoder()
        pending = b""
        for data in chunks:
            if stop.is_set():
                return
            if pending:
                data = pending + data
            lines = data.split(b"\n")
            pending = lines.pop()
            for line in lines:
                put = _one_put(line, decode_value)
                if put is not None:
                    key, revision, value = put
                    position.heard = True
                    if revision > position.revision:
                        position.revision = revision
                    change = self._change_of(key, value)
                    if change is not None:
                        yield change
                    continue
                if not line.strip():
                    continue
                message = decode(line.decode("utf-8"))
                if "error" in message:
                    raise StoreUnavailableError(f"etcd: watch: {message['error']}")
                position.heard = True
                result = message.get("result", {})
                if result.get("compact_revision") or result.get("canceled"):
                    raise _Resync()
                events = result.get("events")
                if not events:
                    revision = int(result.get("header", {}).get("revision", 0))
                    position.revision = max(position.revision, revision)
                    continue
                for event in events:
                    kv = event["kv"]
                    if "mod_revision" in kv:
                        revision = int(kv["mod_revision"])
                    else:
                        revision = int(result.get("header", {}).get("revision", 0))
                    if revision > position.revision:
                        position.revision = revision
                    change = self._change(kv, deleted=event.get("type") == "DELETE")
                    if change is not None:  # else not a broker's key
                        yield change

    def interrupt(self) -> None:
        with self._lock:
            streams = list(self._streams)
        for response in streams:
            # Closing the response does not wake a thread blocked reading it; shutting the
            # socket down does.
            with _suppress_os_error():
                sock = socket.socket(fileno=os.dup(response.raw.fileno()))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()

    def close(self) -> None:
        self.interrupt()
        for client in self._clients:
            client.session.close()


class _LeaseRegistration(Registration):
    def __init__(self, store: EtcdStore, broker_id: int, ttl: float, lease: int) -> None:
        self.store = store
        self.broker_id = broker_id
        self.ttl = ttl
        self.lease = lease

    def publish(self, report_json: str) -> None:
        self.store.call(
            "kv/put",
            {
                "key": _b64(self.store.key("load", self.broker_id)),
                "value": _b64(report_json),
                "lease": self.lease,
            },
        )

    def renew(self) -> None:
        result = self.store.call("lease/keepalive", {"ID": self.lease})
        if int(result.get("result", {}).get("TTL", -1)) <= 0:
            raise LeaseLostError(f"etcd: lease {self.lease:x} of broker {self.broker_id} expired")

    def revoke(self) -> None:
        self.store.call("kv/lease/revoke", {"ID": self.lease})


class _suppress_store_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[type[BaseException]], *rest: object) -> bool:
        return kind is not None and issubclass(kind, (StoreUnavailableError, LeaseLostError))


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# Publishing -------------------------------------------------------------------------------

TopicsSource = Union[Sequence[str], Callable[[], Iterable[Union[str, TopicLoad]]]]


class LoadPublisher:
    """Publishes this broker's load report every ``interval`` seconds from a background thread
    (:meth:`start`, or ``with``), or as a coroutine (:meth:`run_async`).

    The thread measures through ``monitor`` (by default the process's shared monitor), as the
    broker's own :meth:`~ResourceMonitor.sample` calls do: those take the monitor's lock for a
    sample's few microseconds and never wait on the store. While the store is out of reach
    the publisher retries with capped exponential backoff (0.1 s doubling to 5 s, at most a
    third of the TTL), registers again when its lease expired meanwhile, and counts:
    ``published``, ``failed``, ``last_error``. :meth:`stop` removes the registration and the
    report (etcd: revokes the lease).

    :param topics: the broker's topic names, or a function called at each report that returns
        names or :class:`TopicLoad` (per-topic rates for the upstream schema).
    :param make_report: builds the report instead (then ``monitor`` and ``topics`` are not
        used); its ``broker_id`` is set to this publisher's.
    :param ttl: the registration's TTL; the store's default (32 s) when None.
    :param pressure: write the monitor's pressure stalls and throttling into each report (the
        report's ``"pressure"`` object), so that rankings of the cluster see a saturated
        broker. A monitor that can have none (macOS, Windows, a kernel without PSI in a v1
        container without a quota) is said once in the log and its reports go without.
    :param warmup: seconds from the start to the first report, so that a monitor opened just
        before has rates to give. By default a second (or the interval when shorter) when the
        publisher opens the shared monitor itself or its first pressure reading only took a
        baseline, else none.
    """

    def __init__(
        self,
        store: ReportStore,
        broker_id: int,
        monitor: Optional[ResourceMonitor] = None,
        interval: float = DEFAULT_INTERVAL,
        ttl: Optional[float] = None,
        topics: Optional[TopicsSource] = None,
        *,
        make_report: Optional[Callable[[], LoadReport]] = None,
        on_publish: Optional[Callable[[LoadPublisher, LoadReport], None]] = None,
        pressure: bool = True,
        warmup: Optional[float] = None,
    ) -> None:
        if (
            isinstance(broker_id, bool)
            or not isinstance(broker_id, int)
            or not 0 <= broker_id <= U64_MAX
        ):
            raise ValueError(f"broker_id must be an int from 0 to 2^64-1, got {broker_id!r}")
        if not (interval > 0 and math.isfinite(interval)):
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self.store = store
        self.broker_id = broker_id
        self.monitor = monitor
        self.interval = float(interval)
        self.ttl = float(store.default_ttl if ttl is None else ttl)
        if not (self.ttl > 0 and math.isfinite(self.ttl)):
            raise ValueError(f"ttl must be > 0 seconds, got {ttl}")
        self.topics = topics
        self.make_report = make_report
        self.on_publish = on_publish
        self.pressure = pressure
        if warmup is not None and not (warmup >= 0 and math.isfinite(warmup)):
            raise ValueError(f"warmup must be >= 0 seconds, got {warmup}")
        self.warmup = warmup
        # What the last reports left out: a reading that fails the same way at every report
        # (a v1 blkio that does not count) is said once, and again after it recovered.
        self._said_left_out: set[str] = set()
        self._left_out_now: set[str] = set()
        #: Reports written, attempts that failed (publish, renew or register), and the last
        #: failure's text (None once a publish succeeds after it).
        self.published = 0
        self.failed = 0
        self.last_error: Optional[str] = None
        self.registrations = 0
        self._registration: Optional[Registration] = None
        self._next_publish = 0.0
        self._next_renew = 0.0
        self._failures = 0
        self._monitor_ready = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def renew_every(self) -> float:
        return self.ttl / 3

    def build_report(self) -> LoadReport:
        if self.make_report is not None:
            report = self.make_report()
            report.broker_id = self.broker_id
            return report
        from danube_metrics.measure import generate_load_report

        names: list[str] = []
        loads: list[TopicLoad] = []
        self._said_left_out, self._left_out_now = self._left_out_now, set()
        source = self.topics() if callable(self.topics) else (self.topics or [])
        for item in source:
            if isinstance(item, TopicLoad):
                names.append(item.topic_name)
                loads.append(item)
            else:
                names.append(item)
        return generate_load_report(
            len(names),
            names,
            self.monitor,
            topic_loads=loads,
            broker_id=self.broker_id,
            pressure=self.pressure,
            on_left_out=self._left_out,
        )

    def _left_out(self, name: str, err: DanubeMetricsError) -> None:
        said = f"{name}: {err}"
        self._left_out_now.add(said)
        if said not in self._said_left_out:
            log.warning("publisher %s: %s left out of its reports: %s", self.broker_id, name, err)

    def _open_monitor(self) -> float:
        """Readies the monitor this publisher measures through (the shared one unless given)
        and returns how long to wait before the first report: a monitor just opened has no
        rates yet, nor a pressure reading that only took its baseline (their figures would be
        left out), so the first report then waits a second, or the interval when shorter."""
        if self._monitor_ready:
            return 0.0
        if self.make_report is not None:
            self._monitor_ready = True
            return self.warmup or 0.0
        fresh = False
        if self.monitor is None:
            from danube_metrics.measure import _shared_monitor

            self.monitor = _shared_monitor()
            fresh = True
        if self.pressure:
            fresh = self._take_pressure_baseline() or fresh
        self._monitor_ready = True
        if self.warmup is not None:
            return self.warmup
        return min(1.0, self.interval) if fresh else 0.0

    def _take_pressure_baseline(self) -> bool:
        """Reads the pressure once, so that the first report has figures, and stops asking a
        monitor that can have none. True when that reading only took the baseline."""
        assert self.monitor is not None
        try:
            self.monitor.get_pressure()
        except NotReadyError:
            return True
        except NotSupportedError as exc:
            self.pressure = False
            log.info("publisher %s: reports go without pressure: %s", self.broker_id, exc)
        except DanubeMetricsError as exc:  # it may pass; each report says so if it stays
            log.debug("publisher %s: pressure baseline: %s", self.broker_id, exc)
        return False

    def step(self) -> float:
        """Does what is due (register, publish, renew) and returns the seconds until the next
        thing is due. Never raises for a store failure: it is counted and retried."""
        now = time.monotonic()
        try:
            if self._registration is None:
                warmup = self._open_monitor()
                self._registration = self.store.register(self.broker_id, self.ttl)
                self.registrations += 1
                self._next_publish = max(self._next_publish, now + warmup)
                self._next_renew = now + self.renew_every
            if now >= self._next_publish:
                report = self.build_report()
                self._registration.publish(report.to_json(schema=UPSTREAM))
                self.published += 1
                self.last_error = None
                # Keep the cadence; after an outage, start it again from now.
                self._next_publish = max(self._next_publish + self.interval, now)
                if self.on_publish is not None:
                    self.on_publish(self, report)
            if now >= self._next_renew:
                self._registration.renew()
                self._next_renew = now + self.renew_every
            self._failures = 0
            return max(0.0, min(self._next_publish, self._next_renew) - time.monotonic())
        except LeaseLostError as exc:
            self._registration = None  # register again, after the usual wait
            return self._failed(exc)
        except (StoreUnavailableError, OSError, ValueError, ReportFormatError) as exc:
            return self._failed(exc)

    def _failed(self, exc: BaseException) -> float:
        self.failed += 1
        self._failures += 1
        self.last_error = f"{type(exc).__name__}: {_short(exc)}"
        if self._failures == 1:
            log.warning("publisher %s: %s (retrying)", self.broker_id, self.last_error)
        return backoff_delay(self._failures, min(BACKOFF_CAP, self.renew_every))

    def start(self) -> LoadPublisher:
        """Starts the background thread (a daemon). Idempotent."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"danube-publisher-{self.broker_id}", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.step())

    def stop(self, revoke: bool = True) -> None:
        """Stops the thread and (unless ``revoke`` is False) removes this broker's registration
        and report from the store at once (one attempt; a failure is counted)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._withdraw(revoke)

    def _withdraw(self, revoke: bool) -> None:
        registration, self._registration = self._registration, None
        if revoke and registration is not None:
            try:
                registration.revoke()
            except (StoreUnavailableError, LeaseLostError, OSError) as exc:
                self.failed += 1
                self.last_error = f"{type(exc).__name__}: {_short(exc)}"

    async def run_async(self) -> None:
        """Publishes until cancelled, the store's blocking calls in a worker thread so that the
        event loop never waits on them; cancelled, it removes the registration."""
        step: Optional[asyncio.Future[float]] = None
        try:
            while True:
                step = asyncio.ensure_future(asyncio.to_thread(self.step))
                delay = await asyncio.shield(step)
                step = None
                await asyncio.sleep(delay)
        finally:
            # Cancelled during a step, the step goes on in its thread: it ends first, or it
            # could publish again after the withdraw and leave the report behind.
            if step is not None:
                await asyncio.shield(asyncio.wait([step]))
            await asyncio.shield(asyncio.to_thread(self._withdraw, True))

    def __enter__(self) -> LoadPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Watching ---------------------------------------------------------------------------------


class ClusterView:
    """The latest valid report of every live broker under a store, kept up to date by a
    background thread that watches the store.

    A broker is in :meth:`reports` while it is registered and its report parses (either
    schema; its ``broker_id``, when given, must be the key's). Anything else under the prefix
    (another writer's value, a report without a registration) is skipped with a warning on
    the ``danube_metrics`` logger, counted (``malformed``: values that did not parse, each
    time one is written; ``unregistered``: reports skipped for want of a registration) and
    kept in :attr:`skipped` (the key's last part -> why), and never stops the view. While the
    store is out of reach the view keeps what it had and retries with backoff
    (``errors``, ``last_error``).

    :param on_change: called (from the watching thread) with the view whenever the set of
        live reports changes; its exceptions are logged, not raised.
    """

    def __init__(
        self,
        store: ReportStore,
        *,
        on_change: Optional[Callable[[ClusterView], None]] = None,
        start: bool = True,
    ) -> None:
        self.store = store
        self.on_change = on_change
        self.malformed = 0
        self.unregistered = 0
        self.errors = 0
        self.last_error: Optional[str] = None
        self.skipped: dict[str, str] = {}
        self.synced = False
        self._loads: dict[str, bytes] = {}
        self._registered: set[str] = set()
        self._parsed: dict[str, tuple[bytes, Optional[LoadReport]]] = {}
        self._received: dict[int, float] = {}
        self._reports: dict[int, LoadReport] = {}
        self._orphans: set[str] = set()
        self._changes = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting = 0
        self._selector = BrokerSelector()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if start:
            self.start()

    def start(self) -> ClusterView:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="danube-cluster-view", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self.store.interrupt()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> ClusterView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                # The store's watch ends once _stop is set (ReportStore.watch): not asked again
                # at each change, which a view of 1,000 brokers makes a thousand times a second.
                for event in self.store.watch(self._stop):
                    failures = 0
                    self._apply(event)
            except Exception as exc:  # never let the watching thread die
                failures += 1
                with self._cond:
                    self.errors += 1
                    self.last_error = f"{type(exc).__name__}: {_short(exc)}"
                if failures == 1:
                    log.warning("cluster view: %s (retrying)", self.last_error)
                self._stop.wait(backoff_delay(failures, BACKOFF_CAP / 5))

    def _apply(self, event: StoreEvent) -> None:
        with self._lock:
            if isinstance(event, Snapshot):
                touched = set(self._loads) | set(event.loads) | set(self._reports_by_name())
                self._loads = dict(event.loads)
                self._registered = set(event.registered)
                self.synced = True
                changed = False
                for name in touched:
                    changed = self._settle(name) or changed
            else:
                name = event.broker
                if event.kind == "load":
                    if event.value is None:
                        self._loads.pop(name, None)
                    else:
                        self._loads[name] = event.value
                elif event.value is None:
                    self._registered.discard(name)
                else:
                    self._registered.add(name)
                # Only the broker it touched: a view of 1,000 brokers must not walk them all
                # at each write.
                changed = self._settle(name)
            self.unregistered = len(self._orphans)
            if changed:
                self._changes += 1
                if self._waiting:
                    self._cond.notify_all()
        if changed and self.on_change is not None:
            try:
                self.on_change(self)
            except Exception:
                log.exception("cluster view: the on_change callback failed")

    def _reports_by_name(self) -> list[str]:
        return [str(broker) for broker in self._reports]

    def _settle(self, name: str) -> bool:
        """Brings broker ``name``'s entry in line with its raw values (lock held); True when
        the live reports changed."""
        broker = _broker_id(name)
        value = self._loads.get(name)
        self._orphans.discard(name)
        if value is None:
            self.skipped.pop(name, None)
            self._parsed.pop(name, None)
            if broker is not None:
                self._received.pop(broker, None)
                return self._reports.pop(broker, None) is not None
            return False
        cached = self._parsed.get(name)
        if cached is None or cached[0] != value:
            # Parsed once per value written: a snapshot repeats the values it had.
            cached = (value, self._parse(name, broker, value))
            self._parsed[name] = cached
        report = cached[1]
        if report is None or broker is None:
            return broker is not None and self._reports.pop(broker, None) is not None
        if name not in self._registered:
            if self.skipped.get(name) is None:
                log.warning(
                    "cluster view: broker %s has a report but no registration: skipped", name
                )
            self.skipped[name] = "a report without a registration"
            self._orphans.add(name)
            return self._reports.pop(broker, None) is not None
        if self.skipped:
            self.skipped.pop(name, None)
        if self._reports.get(broker) is not report:
            self._reports[broker] = report
            self._received[broker] = time.time()
            return True
        return False

    def _parse(self, name: str, broker: Optional[int], value: bytes) -> Optional[LoadReport]:
        why: Optional[str] = None
        report: Optional[LoadReport] = None
        if broker is None:
            why = "the key names no broker id"
        else:
            try:
                report = LoadReport.from_json(value)
            except (ReportFormatError, ValueError, TypeError) as exc:
                why = f"not a load report: {_short(exc)}"
            else:
                if report.broker_id is not None and report.broker_id != broker:
                    why = f"the report names broker {report.broker_id}"
                    report = None
        if why is not None:
            self.malformed += 1
            self.skipped[name] = why
            log.warning("cluster view: %r skipped: %s", name, why)
            return None
        return report

    def reports(self) -> dict[int, LoadReport]:
        """Each live broker's latest valid report, by broker id."""
        with self._cond:
            return dict(self._reports)

    def received(self) -> dict[int, float]:
        """When (Unix seconds) each live broker's current report reached this view."""
        with self._cond:
            return dict(self._received)

    def scores(
        self,
        strategy: str = BALANCED,
        *,
        max_age: Optional[float] = DEFAULT_MAX_AGE,
        now: Optional[float] = None,
    ) -> list[BrokerScore[int]]:
        """:func:`~danube_metrics.rankings.score_brokers` over :meth:`reports`."""
        return score_brokers(self.reports(), strategy, max_age=max_age, now=now)

    def rank(
        self,
        strategy: str = BALANCED,
        *,
        max_age: Optional[float] = DEFAULT_MAX_AGE,
        now: Optional[float] = None,
    ) -> list[tuple[int, float]]:
        """:func:`~danube_metrics.rankings.rank_brokers` over :meth:`reports`."""
        return rank_brokers(self.reports(), strategy, max_age=max_age, now=now)

    def select(self, strategy: str = BALANCED, *, exclude: Iterable[int] = ()) -> int:
        """The broker for a new topic: round robin among the near-equal least loaded, as
        :class:`~danube_metrics.rankings.BrokerSelector`.

        :raises NoEligibleBrokerError: when no live broker is eligible.
        """
        return self._selector.select(self.rank(strategy), exclude=tuple(exclude))

    def wait_until(
        self, predicate: Callable[[dict[int, LoadReport]], bool], timeout: float
    ) -> bool:
        """Waits until ``predicate(reports())`` holds (checked at each change); False when
        ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(dict(self._reports)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                # Counted, so that a change is only announced to someone waiting.
                self._waiting += 1
                try:
                    self._cond.wait(min(left, 0.5))
                finally:
                    self._waiting -= 1
            return True
