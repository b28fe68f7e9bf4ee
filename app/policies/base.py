"""The policy pipeline: small, ordered, pluggable audience rules.

A policy is a class with an ``evaluate(candidate, flags) -> Verdict`` method; the base class keeps
everyone (a no-op), so an operator overrides only what it needs. Policies never do I/O: whatever
operator data they read is loaded per page by the service and handed in as ``OperatorFlags``.
Operators plug their own in by dotted path (``package.module:ClassName``), in order, through the
``PROMOBRIDGE_POLICIES`` setting, with keyword options from ``PROMOBRIDGE_POLICY_OPTIONS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from app.domain.audience import KEEP, Candidate, CustomerPage, DecidedPage, Decision, OperatorFlags, Verdict

NO_FLAGS = OperatorFlags()
T = TypeVar("T")


class PolicyConfigError(ValueError):
    """Raised when a configured policy path cannot be loaded or instantiated."""


class Policy:
    """An audience rule. Subclasses override `evaluate`; the default keeps the customer."""

    name = "policy"

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        """Judge one candidate; return KEEP, a scrub reason, and/or a segment."""
        return KEEP

    def evaluate_page(
        self, page: CustomerPage, flags: Mapping[str, OperatorFlags], rows: Sequence[int]
    ) -> Sequence[Verdict]:
        """Judge customers `rows` of a page (indexes, in that order): one verdict each.

        The default asks `evaluate` customer by customer, so a policy written per customer needs
        nothing more; the built-in ones override it to work on whole columns.
        """
        ids = page.customer_ids
        return [self.evaluate(page.candidate(i), flags.get(ids[i], NO_FLAGS)) for i in rows]

    def evidence(self, candidate: Candidate, flags: OperatorFlags) -> dict[str, object]:
        """The data this policy decided on, for the customer's trail: flag values, never personal data.

        Asked only of the policy that scrubbed a customer; the default says nothing.
        """
        return {}

    def evidence_key(self, candidate: Candidate, flags: OperatorFlags) -> Hashable | None:
        """What `evidence` depends on, when two customers with equal keys get equal evidence (a page
        then asks once per key); None, the default, asks for every customer."""
        return None


class AttributePolicy(Policy):
    """A policy that judges one Optimove attribute's value and the customer's operator flags.

    A page is judged once per distinct attribute value (most customers carry the same few values);
    a customer with operator flags of their own is judged on their own. Subclasses set `attribute`
    and implement `judge`.
    """

    attribute: str

    def judge(self, value: str | None, flags: OperatorFlags) -> Verdict:
        """The verdict for this attribute value and these operator flags."""
        raise NotImplementedError

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        """Judge the candidate's attribute value and operator flags."""
        return self.judge(candidate.attributes.get(self.attribute), flags)

    def evidence_key(self, candidate: Candidate, flags: OperatorFlags) -> Hashable | None:
        """Its attribute's value and the flags: what an attribute policy's evidence is about (a
        subclass whose evidence says more returns None)."""
        return (candidate.attributes.get(self.attribute), flags)

    def evaluate_page(
        self, page: CustomerPage, flags: Mapping[str, OperatorFlags], rows: Sequence[int]
    ) -> Sequence[Verdict]:
        """The same verdicts for a page: judged once per distinct attribute value."""
        values = picked(page.column(self.attribute), rows)
        own = customers_flags(page, flags, rows)
        plain = values if own is None else [v for v, f in zip(values, own, strict=True) if f is None]
        known = {value: self.judge(value, NO_FLAGS) for value in dict.fromkeys(plain)}
        if own is None:
            return list(map(known.__getitem__, values))
        return [
            known[value] if f is None else self.judge(value, f) for value, f in zip(values, own, strict=True)
        ]


def picked(column: Sequence[T], rows: Sequence[int]) -> Sequence[T]:
    """A page column's values at `rows` (the column itself when rows are all of it, in order)."""
    if isinstance(rows, range) and rows == range(len(column)):
        return column
    return list(map(column.__getitem__, rows))


def customers_flags(
    page: CustomerPage, flags: Mapping[str, OperatorFlags], rows: Sequence[int]
) -> list[OperatorFlags | None] | None:
    """Each of `rows`' own operator flags (None for a customer without any); None when no customer
    of the page has flags, the usual case, so that callers can skip a per-customer look-up."""
    if not flags:
        return None
    own = list(map(flags.get, picked(page.customer_ids, rows)))
    return own if any(f is not None for f in own) else None


class PolicyPipeline:
    """Runs the policies in order; the first scrub wins, the last segment assigned wins."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.policies = tuple(policies)

    def decide(self, candidate: Candidate, flags: OperatorFlags = NO_FLAGS) -> Decision:
        """Apply every policy to one candidate."""
        segment: str | None = None
        for index, policy in enumerate(self.policies):
            verdict = policy.evaluate(candidate, flags)
            if verdict.segment is not None:
                segment = verdict.segment
            if verdict.scrubs:
                return Decision(candidate, False, verdict.scrub_reason, segment, scrubbed_by=index)
        return Decision(candidate, eligible=True, scrub_reason=None, segment=segment)

    def evidence_key(self, decision: Decision, flags: OperatorFlags = NO_FLAGS) -> Hashable | None:
        """A key under which `explain_scrub` gives this decision the same answer as any other with the
        same key (the policy that scrubbed, its reason, what its evidence depends on); None when the
        policy cannot say."""
        index = decision.scrubbed_by
        if index is None or not 0 <= index < len(self.policies):
            return None
        key = self.policies[index].evidence_key(decision.candidate, flags)
        return None if key is None else (index, decision.scrub_reason, key)

    def explain_scrub(
        self, decision: Decision, flags: OperatorFlags = NO_FLAGS
    ) -> tuple[str, dict[str, object]]:
        """Which policy scrubbed a decided candidate, and the data it decided on (for the trail).

        Asks the policy the decision names (or re-runs the policies up to the first scrub, for a
        decision made elsewhere): called for scrubbed customers only.
        """
        index = decision.scrubbed_by
        if index is None or not 0 <= index < len(self.policies):
            index = next(
                (i for i, p in enumerate(self.policies) if p.evaluate(decision.candidate, flags).scrubs), None
            )
            if index is None:
                return "unknown", {}
        policy = self.policies[index]
        evidence = getattr(policy, "evidence", None)
        data = evidence(decision.candidate, flags) if callable(evidence) else {}
        return str(getattr(policy, "name", type(policy).__name__)), dict(data)

    def decide_all(
        self, candidates: Iterable[Candidate], flags: Mapping[str, OperatorFlags]
    ) -> list[Decision]:
        """Apply the pipeline to a page of candidates, with the operator flags found for them."""
        return [self.decide(c, flags.get(c.customer_id, NO_FLAGS)) for c in candidates]

    def decide_page(self, page: CustomerPage, flags: Mapping[str, OperatorFlags]) -> DecidedPage:
        """Apply every policy to a whole page, as `decide` would to each customer.

        Each policy sees only the customers no earlier policy scrubbed, all of them in one call.
        """
        size = len(page)
        reasons: list[str | None] = [None] * size
        segments: list[str | None] = [None] * size
        scrubbed_by: list[int | None] = [None] * size
        alive: Sequence[int] = range(size)
        for index, policy in enumerate(self.policies):
            if not alive:
                break
            verdicts = policy.evaluate_page(page, flags, alive)
            kept: list[int] = []
            for i, verdict in zip(alive, verdicts, strict=True):
                if verdict.segment is not None:
                    segments[i] = verdict.segment
                if verdict.scrub_reason is not None:
                    reasons[i] = verdict.scrub_reason
                    scrubbed_by[i] = index
                else:
                    kept.append(i)
            if len(kept) < len(alive):
                alive = kept
        return DecidedPage(page, [reason is None for reason in reasons], reasons, segments, scrubbed_by)


def load_object(path: str, options: Mapping[str, Any] | None = None) -> Any:
    """Instantiate the class at ``module:Class`` (or ``module.Class``) with keyword `options`."""
    module_name, _, class_name = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not class_name:
        raise PolicyConfigError(f"policy path {path!r} is not of the form 'package.module:ClassName'")
    try:
        policy_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise PolicyConfigError(f"cannot load policy {path!r}: {exc}") from exc
    try:
        return policy_class(**(options or {}))
    except (TypeError, ValueError) as exc:
        raise PolicyConfigError(f"cannot configure policy {path!r}: {exc}") from exc


def load_policy(path: str, options: Mapping[str, Any] | None = None) -> Policy:
    """Instantiate an audience policy; it must have an ``evaluate(candidate, flags)`` method."""
    policy = load_object(path, options)
    if not callable(getattr(policy, "evaluate", None)):
        raise PolicyConfigError(f"policy {path!r} has no evaluate(candidate, flags) method")
    return policy  # type: ignore[no-any-return]


def build_pipeline(paths: Sequence[str], options: Mapping[str, Mapping[str, Any]]) -> PolicyPipeline:
    """Build the pipeline; options are looked up by full path or by class name."""
    policies = []
    for path in paths:
        class_name = path.replace(":", ".").rsplit(".", 1)[-1]
        policies.append(load_policy(path, options.get(path) or options.get(class_name)))
    return PolicyPipeline(policies)
