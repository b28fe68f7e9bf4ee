"""A page's scrub steps: one details object per verdict, the evidence asked once per key."""

from __future__ import annotations

from collections import Counter

from app.domain.audience import Candidate, CustomerPage, OperatorFlags, Verdict
from app.domain.trail import AUDIENCE_SCRUBBED
from app.policies.base import Policy, PolicyPipeline
from app.policies.consent import ConsentScrub
from app.services.trail_steps import page_ingested
from tests.fakes.clock import T0


class CountingConsent(ConsentScrub):
    asked: Counter[str]

    def evidence(self, candidate: Candidate, flags: OperatorFlags) -> dict[str, object]:
        self.asked[candidate.customer_id] += 1
        return super().evidence(candidate, flags)


class PerCustomer(Policy):
    """A policy whose evidence is about the customer, not only their attributes: no key."""

    name = "vip_list"
    asked: Counter[str]

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        return Verdict(scrub_reason="not_on_list") if candidate.customer_id.endswith("x") else Verdict()

    def evidence(self, candidate: Candidate, flags: OperatorFlags) -> dict[str, object]:
        self.asked[candidate.customer_id] += 1
        return {"listed": candidate.customer_id[-1]}


def page(*rows: tuple[str, str | None]) -> CustomerPage:
    return CustomerPage.of(Candidate(c, "P", 1, {"Consent": consent}) for c, consent in rows)


def test_the_evidence_of_an_attribute_policy_is_asked_once_per_value_and_flags() -> None:
    consent = CountingConsent()
    consent.asked = Counter()
    pipeline = PolicyPipeline([consent])
    customers = page(("a", "0"), ("b", "0"), ("c", "1"), ("d", "no"), ("e", "0"), ("f", "0"))
    own = {"f": OperatorFlags(consent=False)}  # their own flags: their own evidence
    decided = pipeline.decide_page(customers, own)

    events = page_ingested(7, 0, list(decided.scrubbed()), own, pipeline, now=T0)

    assert [e.customer_id for e in events] == ["a", "b", "d", "e", "f"]
    assert all(e.step == AUDIENCE_SCRUBBED and e.campaign_id == 7 for e in events)
    assert sum(consent.asked.values()) == 3  # "0", "no", and f's own flags
    assert events[0].details is events[1].details is events[3].details  # encoded once by the adapter
    assert events[0].details["data"] == {
        "attribute": "Consent", "value": "0", "operator_consent": None, "require_explicit": False,
    }  # fmt: skip
    assert events[4].details["data"]["operator_consent"] is False  # type: ignore[index]


def test_a_policy_that_cannot_key_its_evidence_is_asked_for_every_customer() -> None:
    policy = PerCustomer()
    policy.asked = Counter()
    pipeline = PolicyPipeline([policy])
    decided = pipeline.decide_page(page(("1x", None), ("2x", None), ("3", None)), {})

    events = page_ingested(7, 0, list(decided.scrubbed()), {}, pipeline, now=T0)

    assert [e.customer_id for e in events] == ["1x", "2x"]
    assert policy.asked == Counter({"1x": 1, "2x": 1})
    assert events[0].details == events[1].details == {
        "policy": "vip_list", "reason": "not_on_list", "data": {"listed": "x"},
    }  # fmt: skip
