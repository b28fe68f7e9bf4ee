"""When a claim caught at a worker kill counts as moving again, and how a kill's delay is judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.kill_watch import KillDelay, has_moved

KILLED_AT = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
LATER = KILLED_AT + timedelta(seconds=4)


def test_a_claim_untouched_since_the_kill_has_not_moved() -> None:
    assert not has_moved("validated", "validated", KILLED_AT, KILLED_AT)
    assert not has_moved("pending", "pending", KILLED_AT - timedelta(seconds=1), KILLED_AT)


def test_a_claim_a_worker_touched_after_the_kill_has_moved() -> None:
    assert has_moved("validated", "validated", LATER, KILLED_AT)  # an activation round took it up
    assert has_moved("pending", "validating", LATER, KILLED_AT)
    assert has_moved("activated", "completed", LATER, KILLED_AT)


def test_a_claim_in_another_state_than_at_the_snapshot_has_moved_whatever_its_updated_at_says() -> None:
    # Seen in a chaos run: the relay took its `now` just before the kill and committed just after
    # the snapshot, so the claim completed with an updated_at before the kill. The snapshot is taken
    # after the kill, so any change of state since then happened after the kill.
    earlier = KILLED_AT - timedelta(milliseconds=300)
    assert has_moved("activated", "completed", earlier, KILLED_AT)
    assert has_moved("validated", "activated", earlier, KILLED_AT)
    assert not has_moved("validating", "pending", earlier, KILLED_AT)


def test_a_validating_claim_back_in_pending_has_not_moved_until_a_validator_leases_it_again() -> None:
    assert not has_moved("validating", "pending", LATER, KILLED_AT)
    assert has_moved("validating", "validating", LATER, KILLED_AT)
    assert has_moved("validating", "validated", LATER, KILLED_AT)
    assert has_moved("validating", "failed", LATER, KILLED_AT)


def test_a_kill_that_caught_nothing_has_no_delay_and_keeps_within_the_bound() -> None:
    kill = KillDelay("SIGKILL pool child 1 of worker-1", 5.0, KILLED_AT)

    assert kill.caught == 0
    assert kill.within(25.0)
    assert kill.describe() == "t=  5.0s SIGKILL pool child 1 of worker-1: no claim in hand (delay n/a)"


def test_a_kill_is_within_the_bound_only_if_its_last_claim_moved_in_time() -> None:
    kill = KillDelay("SIGKILL whole worker worker-2", 12.0, KILLED_AT, {"validating": 3}, 11.5, "validating")

    assert kill.within(25.0)
    assert not kill.within(11.0)
    assert "3 in hand (validating 3), the last moved after 11.5 s (it was validating)" in kill.describe()


def test_a_kill_whose_claims_never_moved_or_that_could_not_be_measured_breaks_the_bound() -> None:
    never = KillDelay("k", 1.0, KILLED_AT, {"pending": 2}, None, None, unmoved=2)
    unknown = KillDelay("k", 1.0, KILLED_AT, unmeasured="database unavailable: OperationalError")

    assert not never.within(1e9)
    assert not unknown.within(1e9)
    assert "2 never moved before the run ended" in never.describe()
    assert "delay unknown" in unknown.describe()
