"""Dropping a client's TCP connection with a reset, from inside a request handler.

The reset must look to the client like a network failure (``ConnectionResetError``), not like an
empty answer. Closing with ``SO_LINGER`` = (on, 0 s) sends an RST instead of a FIN, but werkzeug still
holds the socket (and a buffered reader on it), so closing it from Python would be deferred until
werkzeug lets go. Instead the connection's file descriptor is atomically re-pointed (``dup2``) at one
end of a local socket pair whose other end is already closed: the TCP socket loses its last reference
and the kernel resets it at once, while werkzeug's later write fails with ``BrokenPipeError`` (which it
treats as a dropped client) and its read sees end-of-file. The descriptor number never becomes free,
so no other thread can be handed it in between.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

WERKZEUG_SOCKET_KEY = "werkzeug.socket"
_LINGER_RESET = struct.pack("ii", 1, 0)  # struct linger {l_onoff = 1, l_linger = 0 s}


class ConnectionResetUnavailableError(RuntimeError):
    """The server running the app does not expose the client socket (only werkzeug's does)."""


def reset_client_connection(environ: dict[str, Any]) -> None:
    """Abort the request's TCP connection with an RST; nothing written afterwards reaches the client."""
    connection = environ.get(WERKZEUG_SOCKET_KEY)
    if not isinstance(connection, socket.socket) or connection.fileno() < 0:
        raise ConnectionResetUnavailableError("no client socket in the WSGI environ")
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    dead_end, closed_end = socket.socketpair()
    try:
        closed_end.close()
        os.dup2(dead_end.fileno(), connection.fileno())
    finally:
        dead_end.close()
