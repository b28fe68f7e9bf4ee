"""Long poll caps: per client and per process, places given back when a poll ends."""

from __future__ import annotations

from contextlib import ExitStack

from app.services.long_poll_gate import LongPollGate, Refusal


def test_a_client_at_its_cap_is_refused_while_others_are_admitted() -> None:
    gate = LongPollGate(total=10, per_client=2)
    with ExitStack() as stack:
        assert [stack.enter_context(gate.admitted(1)) for _ in range(2)] == [None, None]
        with gate.admitted(1) as refusal:
            assert refusal == Refusal.CLIENT
        with gate.admitted(2) as refusal:
            assert refusal is None and gate.open == 3
        assert gate.open == 2
    assert gate.open == 0


def test_the_process_total_refuses_every_client_once_reached() -> None:
    gate = LongPollGate(total=2, per_client=5)
    with gate.admitted(1), gate.admitted(2), gate.admitted(3) as refusal:
        assert refusal == Refusal.PROCESS and gate.open == 2
    with gate.admitted(3) as refusal:
        assert refusal is None


def test_a_refused_poll_gives_back_nothing_it_did_not_take() -> None:
    gate = LongPollGate(total=1, per_client=1)
    with gate.admitted(1):
        for _ in range(3):
            with gate.admitted(1):
                pass
        assert gate.open == 1
    with gate.admitted(1) as refusal:
        assert refusal is None


def test_a_place_is_given_back_when_the_poll_raises() -> None:
    gate = LongPollGate(total=1, per_client=1)
    try:
        with gate.admitted(1):
            raise RuntimeError("the database went away")
    except RuntimeError:
        pass
    assert gate.open == 0
