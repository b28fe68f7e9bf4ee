"""Long polls wait on a wake-up, not on a loop of queries: one registry of waiters per web process.

A waiter registers its claim id, reads the claim, and sleeps on an event until a notification
says the claim became final (``claims_became_final``), until the slow fallback re-check, or until
its time is up; woken, it reads the claim again (the database stays the truth). Registering
before the first read means a wake-up between that read and the sleep is never missed. When
notifications may have been lost (the listener reconnected), ``notifications_may_be_lost`` wakes
every waiter to re-read. Nothing here knows where notifications come from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from app.domain.claims import TERMINAL_STATES, Claim

# With notifications, the re-check only covers one that was lost while the listener's connection
# was silently dead (a reconnect wakes every waiter anyway); without (SQLite), it is the poll. Each
# re-check is a read: at 2 s, 50 open long polls cost a web process 25 reads a second, about 8 % of
# its CPU while claims poured in (bench claims, section a).
NOTIFIED_RECHECK_SECONDS = 5.0
POLLED_RECHECK_SECONDS = 0.5


class ClaimWatch:
    """The threads of this process waiting for claims, and the events that wake them."""

    def __init__(self, *, recheck_seconds: float) -> None:
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}

    @contextmanager
    def watching(self, claim_id: str) -> Iterator[threading.Event]:
        """Register interest in one claim for the duration of the block; the event is set on news."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(claim_id, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                events = self._waiters.get(claim_id)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._waiters[claim_id]

    def claims_became_final(self, claim_ids: Iterable[str]) -> None:
        """Wake the waiters of these claims."""
        with self._lock:
            woken = [event for claim_id in claim_ids for event in self._waiters.get(claim_id, ())]
        for event in woken:
            event.set()

    def notifications_may_be_lost(self) -> None:
        """Wake every waiter: a claim may have become final without a notification reaching us."""
        with self._lock:
            woken = [event for events in self._waiters.values() for event in events]
        for event in woken:
            event.set()

    @property
    def waiting(self) -> int:
        """How many waiters are registered."""
        with self._lock:
            return sum(len(events) for events in self._waiters.values())


def wait_until_final(
    watch: ClaimWatch,
    claim_id: str,
    read: Callable[[], Claim | None],
    *,
    wait_seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> Claim | None:
    """The claim once it is final or `wait_seconds` have passed (None if it does not exist)."""
    deadline = clock() + wait_seconds
    with watch.watching(claim_id) as news:
        while True:
            claim = read()
            remaining = deadline - clock()
            if claim is None or claim.state in TERMINAL_STATES or remaining <= 0:
                return claim
            news.wait(min(remaining, watch.recheck_seconds))
            news.clear()
