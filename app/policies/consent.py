"""Consent scrub: nobody without marketing consent gets the campaign."""

from __future__ import annotations

from app.domain.audience import KEEP, Candidate, OperatorFlags, Verdict, attribute_flag
from app.policies.base import AttributePolicy

NO_CONSENT = "no_consent"
CONSENT_WITHDRAWN = "consent_withdrawn"
_WITHDRAWN = Verdict(scrub_reason=CONSENT_WITHDRAWN)
_NO_CONSENT = Verdict(scrub_reason=NO_CONSENT)


class ConsentScrub(AttributePolicy):
    """Scrub customers whose consent attribute is false, or whom the operator's data marks as withdrawn.

    A missing attribute keeps the customer unless `require_explicit` is set, because Optimove
    only lists customers the tenant already targeted.
    """

    name = "consent"

    def __init__(self, attribute: str = "Consent", require_explicit: bool = False) -> None:
        self.attribute = attribute
        self.require_explicit = require_explicit

    def judge(self, value: str | None, flags: OperatorFlags) -> Verdict:
        """The verdict for this attribute value and these operator flags."""
        if flags.consent is False:
            return _WITHDRAWN
        consent = attribute_flag(value)
        if consent is False or (consent is None and flags.consent is None and self.require_explicit):
            return _NO_CONSENT
        return KEEP

    def evidence(self, candidate: Candidate, flags: OperatorFlags) -> dict[str, object]:
        """The consent attribute as Optimove sent it, and the operator's consent flag."""
        return {
            "attribute": self.attribute,
            "value": candidate.attributes.get(self.attribute),
            "operator_consent": flags.consent,
            "require_explicit": self.require_explicit,
        }
