"""Fraud check: flagged customers never get a reward."""

from __future__ import annotations

from app.domain.audience import KEEP, Candidate, OperatorFlags, Verdict, attribute_flag
from app.policies.base import Policy

FRAUD_FLAGGED = "fraud_flagged"


class FraudCheck(Policy):
    """Scrub customers flagged for fraud by the Optimove attribute or by the operator's own data."""

    name = "fraud"

    def __init__(self, attribute: str = "FraudFlag") -> None:
        self.attribute = attribute

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        """Scrub when either source says fraud."""
        if flags.fraud or attribute_flag(candidate.attributes.get(self.attribute)):
            return Verdict(scrub_reason=FRAUD_FLAGGED)
        return KEEP

    def evidence(self, candidate: Candidate, flags: OperatorFlags) -> dict[str, object]:
        """The fraud attribute as Optimove sent it, and the operator's fraud flag."""
        return {
            "attribute": self.attribute,
            "value": candidate.attributes.get(self.attribute),
            "operator_fraud": flags.fraud,
        }
