"""Long polls sleep until a wake-up and then re-read; the database stays the truth."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

from app.domain.claims import Claim as ClaimRecord
from app.domain.claims import ClaimState
from app.services.claim_watch import ClaimWatch, wait_until_final

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PENDING = ClaimRecord(
    id="c-1", client_id=1, source="http", campaign_id=7, customer_id="cust", promo_code=None,
    segment=None, session_properties={}, idempotency_key=None, request_hash="h",
    state=ClaimState.PENDING, reason=None, tier=None, reward_type=None, reward_amount=None,
    granted_amount=None, attempts=0, activation_attempts=0, correlation_id=None, created_at=NOW,
    updated_at=NOW,
    validated_at=None, activated_at=None, completed_at=None,
)  # fmt: skip
LONG = 60.0  # longer than any test may take: only a wake-up can end these waits
PATIENCE = 10.0  # how long a test waits for the waiter thread before failing


class Store:
    """The claim as the database has it, and how many times it was read."""

    def __init__(self) -> None:
        self.claim: ClaimRecord | None = PENDING
        self.reads = 0
        self._changed = threading.Condition()

    def read(self) -> ClaimRecord | None:
        with self._changed:
            self.reads += 1
            self._changed.notify_all()
            return self.claim

    def wait_for_reads(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.reads >= count, PATIENCE), f"{self.reads} reads"


class Waiter:
    """A long poll running in its own thread, as in a web worker thread."""

    def __init__(self, watch: ClaimWatch, store: Store) -> None:
        self.result: list[ClaimRecord | None] = []
        self.thread = threading.Thread(
            target=lambda: self.result.append(wait_until_final(watch, "c-1", store.read, wait_seconds=LONG))
        )
        self.thread.start()
        store.wait_for_reads(1)

    def answer(self) -> ClaimRecord | None:
        self.thread.join(PATIENCE)
        assert self.result, "the waiter is still waiting"
        return self.result[0]


def test_a_notification_wakes_the_waiter_which_rereads_the_final_claim() -> None:
    watch, store = ClaimWatch(recheck_seconds=LONG), Store()
    waiter = Waiter(watch, store)
    store.claim = replace(PENDING, state=ClaimState.COMPLETED)
    watch.claims_became_final(["c-1"])
    final = waiter.answer()
    assert final is not None and final.state == ClaimState.COMPLETED
    assert store.reads == 2 and watch.waiting == 0


def test_news_of_other_claims_does_not_wake_the_waiter_but_a_possible_gap_does() -> None:
    watch, store = ClaimWatch(recheck_seconds=LONG), Store()
    waiter = Waiter(watch, store)
    watch.claims_became_final(["c-2", "c-3"])
    assert store.reads == 1 and watch.waiting == 1
    store.claim = replace(PENDING, state=ClaimState.REJECTED)
    watch.notifications_may_be_lost()  # e.g. the listener reconnected: every waiter re-reads
    final = waiter.answer()
    assert final is not None and final.state == ClaimState.REJECTED


def test_a_waiter_woken_while_its_claim_is_still_in_progress_goes_back_to_sleep() -> None:
    watch, store = ClaimWatch(recheck_seconds=LONG), Store()
    waiter = Waiter(watch, store)
    watch.claims_became_final(["c-1"])  # a hint only: the database still says pending
    store.wait_for_reads(2)
    assert waiter.thread.is_alive() and watch.waiting == 1
    store.claim = replace(PENDING, state=ClaimState.FAILED)
    watch.claims_became_final(["c-1"])
    final = waiter.answer()
    assert final is not None and final.state == ClaimState.FAILED and store.reads == 3


def test_without_news_the_claim_is_read_again_at_each_recheck_until_time_is_up() -> None:
    ticks = iter(range(100))
    watch, store = ClaimWatch(recheck_seconds=0.001), Store()
    claim = wait_until_final(watch, "c-1", store.read, wait_seconds=5, clock=lambda: float(next(ticks)))
    assert claim == PENDING and store.reads == 5  # one clock second passes per look


def test_a_claim_that_is_final_or_missing_is_answered_at_once() -> None:
    watch, store = ClaimWatch(recheck_seconds=LONG), Store()
    store.claim = replace(PENDING, state=ClaimState.COMPLETED)
    final = wait_until_final(watch, "c-1", store.read, wait_seconds=LONG)
    assert final is not None and final.state == ClaimState.COMPLETED and store.reads == 1
    store.claim = None
    assert wait_until_final(watch, "c-1", store.read, wait_seconds=LONG) is None
    assert watch.waiting == 0
