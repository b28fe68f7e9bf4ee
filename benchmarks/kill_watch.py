"""The kill → moving delay: how long the claims a SIGKILLed worker held wait before they move again.

Why measured: a dead worker must delay its claims by at most CLAIM_STALE_AFTER_SECONDS plus a few
seconds (a validation lease that ran out is dispatched again at once; a claim whose task died with
its worker is re-dispatched once stale). Only timing real SIGKILLs shows it holds.

Which claims a worker has in hand is written nowhere: a lease does not name its holder, and the
claims of an activation or a status task are only in its message. So at the kill we take, from
PostgreSQL, every claim that some worker may be holding (`in_hand_at`):

- `validating` with a lease not yet run out: leased by a validator, the only one of its campaign and
  promo code;
- `pending`, `validated` or `activated`, handed to the workers (`dispatched_at`) before the kill and
  not touched since (`updated_at`): waiting on that validator (whose single-flight lock the victim
  may hold), on an activation task, or on a status send. A claim dispatched for later (an activation
  retry scheduled past the kill) is waiting on purpose, not in anyone's hand, and is left out.

That is a superset of the victim's claims, so the delay measured is an upper bound of theirs, which
is the side an invariant must err on. A claim has moved once a worker touched it after the kill
(`updated_at` past the kill), except a validating claim found back in `pending`: its lease ran out
(the reconciler's bookkeeping) or its call failed, and it moves when a validator leases it again.
The moment it moved is the earlier of when the watch saw it and its `updated_at` (both are at or
after the move), so polling adds no delay to what is measured unless a claim moves twice between
two polls. A kill's delay is the time until the last of its claims moved.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.exc import SQLAlchemyError

from app.adapters.db.tables import claims
from app.clock import as_utc, utcnow
from app.domain.claims import ClaimState

WATCH_POLL_SECONDS = 0.25
SNAPSHOT_RETRY_SECONDS = 10.0  # the database may be restarting when a worker is killed
SNAPSHOT_RETRY_PAUSE_SECONDS = 0.2
WAITING_STATES = (ClaimState.PENDING, ClaimState.VALIDATED, ClaimState.ACTIVATED)
IN_HAND_DEFINITION = (
    "claims in hand at a kill: validating with a lease not yet run out, or pending/validated/activated "
    "dispatched before the kill and untouched since (any worker's: an upper bound of the victim's)"
)


@dataclass
class KillDelay:
    """One worker kill: when, which worker, the claims caught in hand, and how long until the last moved."""

    what: str
    at: float  # seconds into the run
    killed_at: datetime
    in_hand: dict[str, int] = field(default_factory=dict)  # caught claims by their state at the kill
    delay: float | None = None  # until the last caught claim moved; None if none was caught or some never did
    slowest: str | None = None  # the state, at the kill, of the claim that moved last
    unmoved: int = 0  # caught claims that had not moved when the run ended
    unmeasured: str | None = None  # why no snapshot could be taken

    @property
    def caught(self) -> int:
        """How many claims the kill caught in hand."""
        return sum(self.in_hand.values())

    def within(self, bound: float) -> bool:
        """Whether every caught claim moved within `bound` seconds (true when none was caught)."""
        if self.unmeasured is not None or self.unmoved:
            return False
        return self.delay is None or self.delay <= bound

    def describe(self) -> str:
        """One line: the kill, what it caught, and its delay (or why there is none)."""
        head = f"t={self.at:5.1f}s {self.what}: "
        if self.unmeasured is not None:
            return head + f"delay unknown: no snapshot ({self.unmeasured})"
        if not self.caught:
            return head + "no claim in hand (delay n/a)"
        states = ", ".join(f"{state} {count}" for state, count in sorted(self.in_hand.items()))
        caught = f"{self.caught} in hand ({states}), "
        if self.unmoved:
            return head + caught + f"{self.unmoved} never moved before the run ended"
        return head + caught + f"the last moved after {self.delay:.1f} s (it was {self.slowest})"


def has_moved(state_at_kill: str, state: str, updated_at: datetime, killed_at: datetime) -> bool:
    """Whether a worker took the claim up after the kill (a validating claim back in pending has not).

    A claim in another state than at the snapshot has moved even when its updated_at is before the
    kill: the services stamp the `now` they took before their transaction, which may commit after the
    snapshot (itself taken after the kill).
    """
    if state_at_kill == ClaimState.VALIDATING and state == ClaimState.PENDING:
        return False
    return updated_at > killed_at or state != state_at_kill


def in_hand_at(engine: Engine, killed_at: datetime) -> dict[str, str]:
    """The claims some worker may hold at `killed_at` (see the module docstring): their state, by id."""
    leased = and_(claims.c.state == ClaimState.VALIDATING.value, claims.c.lease_until > killed_at)
    handed_over = and_(
        claims.c.state.in_([state.value for state in WAITING_STATES]),
        or_(claims.c.dispatched_at.is_(None), claims.c.dispatched_at <= killed_at),
    )
    untouched = claims.c.updated_at <= killed_at
    query = select(claims.c.id, claims.c.state).where(untouched, or_(leased, handed_over))
    with engine.connect() as conn:
        return {str(row[0]): str(row[1]) for row in conn.execute(query)}


@dataclass
class _Watched:
    delay: KillDelay
    waiting: dict[str, str]  # claims caught that have not moved yet: their state at the kill


class KillWatch:
    """Snapshots the claims in hand at each worker kill, then watches them until each has moved.

    `caught` is called by the nemesis right after each SIGKILL; a thread polls the claims still
    waiting; `finish` stops it, looks one last time, and returns every kill's delay.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float = WATCH_POLL_SECONDS,
        snapshot_retry_seconds: float = SNAPSHOT_RETRY_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine, self.poll_seconds, self.clock = engine, poll_seconds, clock
        self.snapshot_retry_seconds = snapshot_retry_seconds
        self._watched: list[_Watched] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kill-watch", daemon=True)

    def start(self) -> None:
        """Start polling the claims caught by kills."""
        self._thread.start()

    def caught(self, what: str, at: float, killed_at: datetime) -> None:
        """A worker was SIGKILLed at `killed_at` (`at` s into the run): snapshot the claims in hand."""
        delay = KillDelay(what, at, killed_at)
        waiting: dict[str, str] = {}
        deadline = time.monotonic() + self.snapshot_retry_seconds
        while True:
            try:
                waiting = in_hand_at(self.engine, killed_at)
                break
            except SQLAlchemyError as exc:
                if time.monotonic() >= deadline:
                    delay.unmeasured = f"database unavailable: {type(exc).__name__}"
                    break
                time.sleep(SNAPSHOT_RETRY_PAUSE_SECONDS)
        delay.in_hand = dict(Counter(waiting.values()))
        with self._lock:
            self._watched.append(_Watched(delay, waiting))

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll()

    def poll(self) -> None:
        """Look at every caught claim not yet moved; note when each moved."""
        with self._lock:
            open_kills = [watched for watched in self._watched if watched.waiting]
        for watched in open_kills:
            query = select(claims.c.id, claims.c.state, claims.c.updated_at).where(
                claims.c.id.in_(list(watched.waiting))
            )
            try:
                with self.engine.connect() as conn:
                    rows = list(conn.execute(query))
            except SQLAlchemyError:
                continue  # the database is restarting: look again next round
            self._note_moves(watched, rows, seen_at=self.clock())

    def _note_moves(self, watched: _Watched, rows: list[Any], *, seen_at: datetime) -> None:
        killed_at, delay = watched.delay.killed_at, watched.delay
        for claim_id, state, updated in rows:
            updated_at = as_utc(updated) or updated
            state_at_kill = watched.waiting[claim_id]
            if not has_moved(state_at_kill, state, updated_at, killed_at):
                continue
            # updated_at bounds the move from above unless it was stamped before the kill (see
            # has_moved); then the watch's own sighting is the bound.
            moved_at = min(seen_at, updated_at) if updated_at > killed_at else seen_at
            after = (moved_at - killed_at).total_seconds()
            if delay.delay is None or after > delay.delay:
                delay.delay, delay.slowest = after, state_at_kill
            del watched.waiting[claim_id]

    def stop(self) -> None:
        """Stop polling (a run that broke stops here; `finish` does too)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def finish(self) -> list[KillDelay]:
        """Stop watching, look one last time, and return every kill's delay (None where some never moved)."""
        self.stop()
        self.poll()
        with self._lock:
            for watched in self._watched:
                watched.delay.unmoved = len(watched.waiting)
                if watched.waiting:
                    watched.delay.delay = None
            return [watched.delay for watched in self._watched]
