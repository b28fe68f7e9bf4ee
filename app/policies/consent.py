"""Consent scrub: nobody without marketing consent gets the campaign."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.domain.audience import KEEP, Candidate, CustomerPage, OperatorFlags, Verdict, attribute_flag
from app.policies.base import NO_FLAGS, Policy

NO_CONSENT = "no_consent"
CONSENT_WITHDRAWN = "consent_withdrawn"
_WITHDRAWN = Verdict(scrub_reason=CONSENT_WITHDRAWN)
_NO_CONSENT = Verdict(scrub_reason=NO_CONSENT)


class ConsentScrub(Policy):
    """Scrub customers whose consent attribute is false, or whom the operator's data marks as withdrawn.

    A missing attribute keeps the customer unless `require_explicit` is set, because Optimove
    only lists customers the tenant already targeted.
    """

    name = "consent"

    def __init__(self, attribute: str = "Consent", require_explicit: bool = False) -> None:
        self.attribute = attribute
        self.require_explicit = require_explicit

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        """Scrub on withdrawn consent (operator data first, then the Optimove attribute)."""
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
