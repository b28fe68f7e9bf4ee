"""Fraud check: flagged customers never get a reward."""

from __future__ import annotations

from app.domain.audience import KEEP, Candidate, OperatorFlags, Verdict, attribute_flag
from app.policies.base import AttributePolicy

FRAUD_FLAGGED = "fraud_flagged"
_FLAGGED = Verdict(scrub_reason=FRAUD_FLAGGED)


class FraudCheck(AttributePolicy):
    """Scrub customers flagged for fraud by the Optimove attribute or by the operator's own data."""

    name = "fraud"

    def __init__(self, attribute: str = "FraudFlag") -> None:
        self.attribute = attribute

    def judge(self, value: str | None, flags: OperatorFlags) -> Verdict:
        """The verdict for this attribute value and these operator flags."""
        return _FLAGGED if flags.fraud or attribute_flag(value) else KEEP

    def evidence(self, candidate: Candidate, flags: OperatorFlags) -> dict[str, object]:
        """The fraud attribute as Optimove sent it, and the operator's fraud flag."""
        return {
            "attribute": self.attribute,
            "value": candidate.attributes.get(self.attribute),
            "operator_fraud": flags.fraud,
        }
