"""A reward platform whose answers a test scripts, per customer, counting every attempt."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from app.domain.rewards import GrantKind, GrantOutcome, RewardGrant
from app.services.ports import RewardActivator
from app.services.unit_of_work import UnitOfWork


class ScriptedActivator:
    """A RewardActivator: grants everything unless `answer` scripts otherwise for a customer.

    A customer's answers are given in turn, the last one repeating: ``answer("c1", RETRY, GRANTED)``
    retries once, then grants. Customers in `silent` get no outcome at all (a broken contract).
    `during_grant` runs while the grants are in flight (to let the world change meanwhile).
    """

    name = "scripted"

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()  # grant attempts per claim id
        self.granted: list[RewardGrant] = []  # every grant answered GRANTED, in order
        self.recorded: list[RewardGrant] = []  # what `record` was handed, in the activation's unit of work
        self.silent: set[str] = set()
        self.during_grant: Callable[[], object] | None = None
        self.closed = False
        self._answers: dict[str, list[GrantOutcome]] = {}

    def answer(
        self, customer_id: str, *kinds: GrantKind, reason: str | None = None, retry_after: float | None = None
    ) -> None:
        """Script the customer's answers, in turn (the last one repeats)."""
        self._answers[customer_id] = [
            GrantOutcome(
                "", kind, reason=reason, retry_after=retry_after if kind is GrantKind.RETRY else None
            )
            for kind in kinds
        ]

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        """One attempt per grant; one outcome per grant, in order (none for a silent customer)."""
        if self.during_grant is not None:
            self.during_grant()
        outcomes = []
        for grant in grants:
            self.attempts[grant.claim_id] += 1
            if grant.customer_id in self.silent:
                continue
            outcome = self._next(grant)
            if outcome.granted:
                self.granted.append(grant)
            outcomes.append(outcome)
        return outcomes

    def record(self, uow: UnitOfWork, granted: Sequence[RewardGrant], now: datetime) -> None:
        """A remote platform keeps nothing in our database; what it was handed is remembered."""
        self.recorded.extend(granted)

    def close(self) -> None:
        """Nothing to release."""
        self.closed = True

    def _next(self, grant: RewardGrant) -> GrantOutcome:
        script = self._answers.get(grant.customer_id)
        if not script:
            return GrantOutcome(grant.claim_id, GrantKind.GRANTED, external_ref=f"ref-{grant.claim_id[:8]}")
        template = script.pop(0) if len(script) > 1 else script[0]
        external_ref = f"ref-{grant.claim_id[:8]}" if template.granted else None
        return GrantOutcome(
            grant.claim_id, template.kind, external_ref, template.reason, template.retry_after
        )


def _conforms_to_the_port(activator: ScriptedActivator) -> RewardActivator:
    """Never called: mypy checks here that the fake is what the services ask for."""
    return activator
