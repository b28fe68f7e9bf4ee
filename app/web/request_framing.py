"""When the bytes read from a client make a whole HTTP/1.1 request, ready for a thread to serve.

The web worker reads requests in its event loop and hands one to a thread only once this says it
is complete, so a thread never waits on a slow client. It is only a gate: gunicorn's parser still
parses and validates everything, so whenever the bytes are malformed, too long, or framed in a way
this module does not follow (chunked bodies, bodies the app refuses anyway, bodies the client sends
only after ``100 Continue``), the request counts as complete as soon as its head is, and the parser
decides.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_END = b"\r\n\r\n"
# Longer Content-Length values overflow nothing here, but are never a body the app accepts.
MAX_CONTENT_LENGTH_DIGITS = 18


@dataclass(frozen=True, slots=True)
class RequestFraming:
    """Request completeness for heads up to `max_head_bytes` and bodies up to `max_body_bytes`."""

    max_head_bytes: int
    max_body_bytes: int

    def is_complete(self, data: bytes | bytearray) -> bool:
        """Whether a thread can read the request at the start of `data` without waiting for the client."""
        end = data.find(HEAD_END)
        if end < 0:
            # Too long a head, or lines ended by a bare LF: the parser refuses them without more bytes.
            return len(data) > self.max_head_bytes or data.count(b"\n") != data.count(b"\r\n")
        return len(data) >= end + len(HEAD_END) + self.buffered_body_length(bytes(data[:end]))

    def buffered_body_length(self, head: bytes) -> int:
        """How many body bytes to read before the thread: the Content-Length the app accepts, else 0."""
        lengths: set[bytes] = set()
        for line in head.split(b"\r\n")[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            name = name.strip().lower()
            if name == b"transfer-encoding":
                return 0
            if name == b"expect":  # 100-continue: the client sends the body only once answered
                return 0
            if name == b"content-length":
                lengths.add(value.strip())
        if len(lengths) != 1:
            return 0
        (value,) = lengths
        if not value.isdigit() or len(value) > MAX_CONTENT_LENGTH_DIGITS:
            return 0
        length = int(value)
        return length if length <= self.max_body_bytes else 0
