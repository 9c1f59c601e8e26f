"""Measure one phase of the client process: wall time, CPU time, peak RSS, bytes, API requests.

CPU is ``time.process_time()`` (user + system, every thread of this process). Peak RSS is the
kernel's high-water mark ``VmHWM``, reset at the start of each phase by writing ``5`` to
``/proc/self/clear_refs`` (Linux), so each phase reports its own peak; elsewhere the
process-lifetime peak (``ru_maxrss``) is reported instead. Bytes come from the counting
proxies (:mod:`bench.proxy`), requests from the emulator's ``/_emulator/stats``: both are read
between phases, outside the measured interval.
"""

from __future__ import annotations

import re
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.proxy import read_counters

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(name: str) -> int | None:
    try:
        match = re.search(rf"^{name}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def rss_mib() -> float:
    """The resident set size now."""
    kib = _status_kib("VmRSS")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024


def reset_peak_rss() -> bool:
    """Start a new high-water mark of RSS; False where the kernel does not support it."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    """The peak RSS since the last :func:`reset_peak_rss` (or since the process started)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":
            kib //= 1024
    return kib / 1024


@dataclass
class PhaseResult:
    """What one phase of a client cost."""

    name: str
    images: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_start_mib: float = 0.0
    peak_rss_mib: float = 0.0
    requests: int = 0
    requests_by_task_type: dict[str, int] = field(default_factory=dict)
    images_served: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    connections: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Probe:
    """Reads the emulator's counters and the proxies' byte counters around each phase.

    :param emulator_root: the emulator's own origin (not the proxy), for ``/_emulator/stats``.
    :param control: the proxies' control address, ``(host, port)``.
    """

    def __init__(self, emulator_root: str, control: tuple[str, int]) -> None:
        self._http = httpx.Client(base_url=emulator_root, timeout=30, trust_env=False)
        self._control = control

    def snapshot(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._http.get("/_emulator/stats").json()
        return {"stats": stats, "bytes": read_counters(self._control)}

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseResult]:
        """Measure the body of the ``with`` block as phase *name*; set ``images`` inside."""
        result = PhaseResult(name)
        before = self.snapshot()
        reset_peak_rss()
        result.rss_start_mib = rss_mib()
        started_cpu = time.process_time()
        started = time.perf_counter()
        yield result
        result.seconds = time.perf_counter() - started
        result.cpu_seconds = time.process_time() - started_cpu
        result.peak_rss_mib = peak_rss_mib()
        after = self.snapshot()
        self._difference(result, before, after)

    @staticmethod
    def _difference(result: PhaseResult, before: dict[str, Any], after: dict[str, Any]) -> None:
        s0, s1 = before["stats"], after["stats"]
        result.requests = s1["requests"] - s0["requests"]
        kinds = set(s0["requests_by_task_type"]) | set(s1["requests_by_task_type"])
        result.requests_by_task_type = {
            kind: s1["requests_by_task_type"].get(kind, 0)
            - s0["requests_by_task_type"].get(kind, 0)
            for kind in sorted(kinds)
        }
        result.images_served = s1["images_served"] - s0["images_served"]
        for name, counter in after["bytes"].items():
            start = before["bytes"].get(name, {})
            result.bytes_sent += counter["sent"] - start.get("sent", 0)
            result.bytes_received += counter["received"] - start.get("received", 0)
            result.connections += counter["connections"] - start.get("connections", 0)

    def close(self) -> None:
        self._http.close()
