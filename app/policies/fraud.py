"""Fraud check: flagged customers never get a reward."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.domain.audience import KEEP, Candidate, CustomerPage, OperatorFlags, Verdict, attribute_flag
from app.policies.base import NO_FLAGS, Policy

FRAUD_FLAGGED = "fraud_flagged"
_FLAGGED = Verdict(scrub_reason=FRAUD_FLAGGED)


class FraudCheck(Policy):
    """Scrub customers flagged for fraud by the Optimove attribute or by the operator's own data."""

    name = "fraud"

    def __init__(self, attribute: str = "FraudFlag") -> None:
        self.attribute = attribute

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        """Scrub when either source says fraud."""
        return self._judge(candidate.attributes.get(self.attribute), flags)

    def evaluate_page(
        self, page: CustomerPage, flags: Mapping[str, OperatorFlags], rows: Sequence[int]
    ) -> Sequence[Verdict]:
        """The same verdicts for a page: judged once per distinct attribute value."""
        values, ids = page.column(self.attribute), page.customer_ids
        known: dict[str | None, Verdict] = {}
        verdicts = []
        for i in rows:
            own = flags.get(ids[i]) if flags else None
            if own is not None:
                verdicts.append(self._judge(values[i], own))
                continue
            verdict = known.get(values[i])
            if verdict is None:
                verdict = known[values[i]] = self._judge(values[i], NO_FLAGS)
            verdicts.append(verdict)
        return verdicts

    def _judge(self, value: str | None, flags: OperatorFlags) -> Verdict:
        return _FLAGGED if flags.fraud or attribute_flag(value) else KEEP

    def evidence(self, candidate: Candidate, flags: OperatorFlags) -> dict[str, object]:
        """The fraud attribute as Optimove sent it, and the operator's fraud flag."""
        return {
            "attribute": self.attribute,
            "value": candidate.attributes.get(self.attribute),
            "operator_fraud": flags.fraud,
        }
