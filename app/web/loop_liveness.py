"""`/healthz` answered by the web worker's event loop, and what "alive" means there.

Liveness asks one question: is this process still serving? Answered by a pool thread, the answer
waited behind every request queued before it, so under a claims burst (a saturated pool, the very
moment an orchestrator must not restart the web) a probe could time out on a healthy process. The
event loop answers it instead, as soon as it has read the request, and says "alive" only if the
thread pool is not stalled: work has been waiting for a thread and no thread has started anything
for ``WEB_LIVENESS_STALL_SECONDS``. A wedged pool therefore still fails the probe (503), which a
pool-served probe only did by timing out.

Only a plain ``GET`` or ``HEAD /healthz`` (any query) with no body, within gunicorn's request
limits, is answered here; anything else (including ``/healthz/``, or a head at or over a limit,
which gunicorn answers 414/431) goes to gunicorn and the app as before. The Flask route stays for
other servers and the test client, with the same body. These answers are not in the access log or
the request metrics (probes are noise there); `/readyz`, which checks dependencies, is still served
by the app.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass

from app.web.responses import Liveness
from app.web.security_headers import SECURITY_HEADERS

PROBE_PATH = b"/healthz"
_METHODS = {b"GET": False, b"HEAD": True}  # method -> head only
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """gunicorn's request-head limits (0: none), so that a probe over them gets gunicorn's answer."""

    line: int = 0
    field_size: int = 0
    fields: int = 0

    def exceeded_by(self, lines: list[bytes]) -> bool:
        """Whether the head's lines come near a limit (with room for the CRLFs gunicorn may count)."""
        if self.line and len(lines[0]) + 2 > self.line:
            return True
        if self.fields and len(lines) - 1 > self.fields:
            return True
        return bool(self.field_size) and any(len(line) + 2 > self.field_size for line in lines[1:])


@dataclass(frozen=True, slots=True)
class LivenessProbe:
    """A liveness request the event loop may answer."""

    head_only: bool


def liveness_probe(request: bytes | bytearray, limits: HeadLimits = HeadLimits()) -> LivenessProbe | None:
    """The probe at the start of `request` (a complete request), or None when the app must serve it."""
    end = request.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(request[:end]).split(b"\r\n")
    if limits.exceeded_by(lines):
        return None
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        return None
    method, target, _version = parts
    if method not in _METHODS or target.partition(b"?")[0] != PROBE_PATH:
        return None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or name != name.strip():  # malformed: gunicorn's parser gives the 400
            return None
        if name.lower() in _BODY_HEADERS and value.strip() not in (b"", b"0"):
            return None
    if len(request) != end + 4:  # pipelined bytes after it: the app's parser keeps them in order
        return None
    return LivenessProbe(head_only=_METHODS[method])


def liveness_answer(probe: LivenessProbe, stalled_for: float | None) -> bytes:
    """The whole HTTP answer: 200 with the app's liveness body, or 503 when the pool is stalled."""
    if stalled_for is None:
        status, body = "200 OK", Liveness().body()
    else:
        status = "503 Service Unavailable"
        body = {
            "error": "stalled",
            "message": f"requests have waited for a thread and none started for {stalled_for:.0f} s",
        }
    payload = json.dumps(body, separators=(",", ":")).encode()
    security = "".join(f"{name}: {value}\r\n" for name, value in SECURITY_HEADERS.items())
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"{security}X-Request-ID: {uuid.uuid4().hex}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head if probe.head_only else head + payload


class PoolWatch:
    """Whether the worker's thread pool is stalled: requests waiting, no thread starting any.

    The event loop calls `handed` for each request it gives the pool; a thread calls `started`
    when it begins one. Waiting work alone is no stall (a burst queues); waiting work with no
    start for `stall_seconds` is.
    """

    def __init__(self, stall_seconds: float) -> None:
        self.stall_seconds = stall_seconds
        self._lock = threading.Lock()
        self._handed = 0
        self._started = 0
        self._progress_at = time.monotonic()  # the later of: the last start, the queue filling

    def handed(self, now: float | None = None) -> None:
        """A request went to the pool."""
        with self._lock:
            if self._handed <= self._started:
                self._progress_at = time.monotonic() if now is None else now
            self._handed += 1

    def started(self, now: float | None = None) -> None:
        """A thread began a request."""
        with self._lock:
            self._started += 1
            self._progress_at = time.monotonic() if now is None else now

    def stalled_for(self, now: float | None = None) -> float | None:
        """Seconds without progress while requests wait, when over the limit; else None."""
        with self._lock:
            if self._handed <= self._started:
                return None
            idle = (time.monotonic() if now is None else now) - self._progress_at
        return idle if idle >= self.stall_seconds else None
