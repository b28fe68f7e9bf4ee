"""The built-in audience policies and the pipeline that runs them (pure, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.audience import AttributeColumns, Candidate, CustomerPage, OperatorFlags, Verdict
from app.policies.base import Policy, PolicyConfigError, PolicyPipeline, build_pipeline, load_policy
from app.policies.consent import ConsentScrub
from app.policies.fraud import FraudCheck
from app.policies.segmentation import VipSegmentation, parse_segments


def customer(**attributes: str | None) -> Candidate:
    return Candidate("c-1", "PROMO", 1, attributes)


DEFAULT = build_pipeline(
    [
        "app.policies.consent:ConsentScrub",
        "app.policies.fraud:FraudCheck",
        "app.policies.segmentation:VipSegmentation",
    ],
    {},
)


@pytest.mark.parametrize(
    ("attributes", "flags", "eligible", "reason", "segment"),
    [
        ({"Consent": "1", "FraudFlag": "0", "VIPLevel": "2"}, OperatorFlags(), True, None, "gold"),
        # A scrub stops the pipeline: later policies (segmentation) do not run.
        ({"Consent": "0", "FraudFlag": "0", "VIPLevel": "2"}, OperatorFlags(), False, "no_consent", None),
        ({"Consent": "true", "FraudFlag": "1"}, OperatorFlags(), False, "fraud_flagged", None),
        ({"Consent": "1"}, OperatorFlags(consent=False), False, "consent_withdrawn", None),
        ({"Consent": "1", "FraudFlag": "0"}, OperatorFlags(fraud=True), False, "fraud_flagged", None),
        ({"Consent": "0", "FraudFlag": "1"}, OperatorFlags(), False, "no_consent", None),  # first scrub wins
        ({"VIPLevel": "1"}, OperatorFlags(vip_level=3), True, None, "platinum"),  # operator data wins
        ({"VIPLevel": "9"}, OperatorFlags(), True, None, "platinum"),
        ({"VIPLevel": "oops"}, OperatorFlags(), True, None, "standard"),
        ({}, OperatorFlags(), True, None, "standard"),
    ],
)
def test_default_pipeline_decisions(
    attributes: dict[str, str], flags: OperatorFlags, eligible: bool, reason: str | None, segment: str | None
) -> None:
    decision = DEFAULT.decide(customer(**attributes), flags)
    assert (decision.eligible, decision.scrub_reason, decision.segment) == (eligible, reason, segment)


def test_consent_can_be_required_explicitly_and_read_from_another_attribute() -> None:
    strict = ConsentScrub(attribute="OptIn", require_explicit=True)
    assert strict.evaluate(customer(), OperatorFlags()).scrub_reason == "no_consent"
    assert strict.evaluate(customer(OptIn="yes"), OperatorFlags()).scrubs is False
    assert strict.evaluate(customer(), OperatorFlags(consent=True)).scrubs is False


def test_fraud_attribute_is_configurable() -> None:
    assert (
        FraudCheck(attribute="Risk").evaluate(customer(Risk="1"), OperatorFlags()).scrub_reason
        == "fraud_flagged"
    )


def test_segments_come_from_configuration() -> None:
    policy = VipSegmentation(segments="0:bronze,5:diamond")
    assert policy.evaluate(customer(VIPLevel="4"), OperatorFlags()).segment == "bronze"
    assert policy.evaluate(customer(VIPLevel="7"), OperatorFlags()).segment == "diamond"
    assert parse_segments(" 1:a , 2:b ") == {1: "a", 2: "b"}
    with pytest.raises(ValueError, match="LEVEL:NAME"):
        parse_segments("gold")


class BlockTestAccounts(Policy):
    """An operator's own policy, plugged in by dotted path."""

    def __init__(self, prefix: str = "test-") -> None:
        self.prefix = prefix

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        return (
            Verdict(scrub_reason="test_account")
            if candidate.customer_id.startswith(self.prefix)
            else Verdict()
        )


def test_operators_plug_in_their_own_policies_with_options() -> None:
    pipeline = build_pipeline(
        [f"{__name__}:BlockTestAccounts", "app.policies.fraud.FraudCheck"],
        {"BlockTestAccounts": {"prefix": "c-"}},
    )
    assert pipeline.decide(customer()).scrub_reason == "test_account"


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        ("nowhere", None, "not of the form"),
        ("app.policies.nothing:Policy", None, "cannot load"),
        ("app.policies.consent:Missing", None, "cannot load"),
        ("app.policies.consent:ConsentScrub", {"bogus": 1}, "cannot configure"),
        ("app.domain.audience:Verdict", None, "no evaluate"),
    ],
)
def test_misconfigured_policies_fail_with_a_clear_message(
    path: str, options: dict[str, int] | None, message: str
) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        load_policy(path, options)


def test_an_empty_pipeline_keeps_everyone() -> None:
    decision = PolicyPipeline([]).decide(customer(Consent="0"))
    assert decision.eligible and decision.segment is None


# Whole pages --------------------------------------------------------------------------------------

PAGE_ATTRIBUTES = [
    {"Consent": "1", "FraudFlag": "0", "VIPLevel": "2"},
    {"Consent": "0", "FraudFlag": "0", "VIPLevel": "2"},
    {"Consent": "true", "FraudFlag": "1"},
    {"Consent": "1"},
    {"Consent": "1", "FraudFlag": "0"},
    {"Consent": "0", "FraudFlag": "1"},
    {"VIPLevel": "1"},
    {"VIPLevel": "9"},
    {"VIPLevel": "oops"},
    {"Consent": " YES ", "VIPLevel": "-3"},
    {},
]
PAGE_FLAGS = {
    "c3": OperatorFlags(consent=False),
    "c4": OperatorFlags(fraud=True),
    "c6": OperatorFlags(vip_level=3),
    "c10": OperatorFlags(consent=True, vip_level=1),
}


def a_page() -> CustomerPage:
    return CustomerPage.of(Candidate(f"c{i}", "PROMO", 1, a) for i, a in enumerate(PAGE_ATTRIBUTES))


@pytest.mark.parametrize("flags", [{}, PAGE_FLAGS], ids=["without operator data", "with operator data"])
def test_a_page_decided_at_once_gets_the_verdicts_each_customer_gets_alone(
    flags: dict[str, OperatorFlags],
) -> None:
    page = a_page()
    decided = DEFAULT.decide_page(page, flags)
    assert list(decided.decisions()) == DEFAULT.decide_all(page.candidates(), flags)
    assert decided.counts().rows == len(PAGE_ATTRIBUTES)


def test_a_policy_written_per_customer_sees_only_customers_no_earlier_policy_scrubbed() -> None:
    seen: list[str] = []

    class Watcher(Policy):
        def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
            seen.append(candidate.customer_id)
            return Verdict(segment="watched") if candidate.customer_id == "c0" else Verdict()

    pipeline = PolicyPipeline([ConsentScrub(), FraudCheck(), Watcher()])
    decided = pipeline.decide_page(a_page(), {})
    assert seen == [
        f"c{i}" for i, d in enumerate(DEFAULT.decide_all(a_page().candidates(), {})) if d.eligible
    ]
    assert decided.segments[0] == "watched"
    assert list(decided.decisions()) == pipeline.decide_all(a_page().candidates(), {})


def test_an_empty_page_is_decided_without_asking_any_policy() -> None:
    decided = DEFAULT.decide_page(CustomerPage([], [], [], []), {})
    assert len(decided) == 0 and decided.counts().rows == 0


# Any page, at once or customer by customer -------------------------------------------------------

NAMES = ("Consent", "FraudFlag", "VIPLevel")
VALUES = st.sampled_from([None, "0", "1", "true", " YES ", "2", "9", "-3", "oops", ""])
FLAGS = st.builds(
    OperatorFlags,
    consent=st.none() | st.booleans(),
    fraud=st.none() | st.booleans(),
    vip_level=st.none() | st.integers(-1, 5),
)


class EveryThird(Policy):
    """Written per customer: scrubs every third customer it is shown, segments the others."""

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        if int(candidate.customer_id[1:]) % 3 == 0:
            return Verdict(scrub_reason="third")
        return Verdict(segment="kept-by-third")


PIPELINES = [DEFAULT, PolicyPipeline([VipSegmentation(), ConsentScrub(), EveryThird(), FraudCheck()])]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(VALUES, VALUES, VALUES), max_size=40),
    flagged=st.dictionaries(st.integers(0, 39), FLAGS, max_size=10),
    columns=st.booleans(),
    pipeline=st.sampled_from(PIPELINES),
)
def test_any_page_decided_at_once_matches_each_customer_decided_alone(
    rows: list[tuple[str | None, ...]],
    flagged: dict[int, OperatorFlags],
    columns: bool,
    pipeline: PolicyPipeline,
) -> None:
    ids = [f"c{i}" for i in range(len(rows))]
    attributes = (
        AttributeColumns(NAMES, [list(c) for c in zip(*rows, strict=True)] or [[], [], []], len(rows))
        if columns
        else [dict(zip(NAMES, r, strict=True)) for r in rows]
    )
    page = CustomerPage(ids, [1] * len(rows), ["PROMO"] * len(rows), attributes)
    flags = {f"c{i}": f for i, f in flagged.items()}
    decided = pipeline.decide_page(page, flags)
    assert list(decided.decisions()) == pipeline.decide_all(page.candidates(), flags)
