"""Everything promobridge assumes about OptiPromo's ``validateCustomers`` wire format, in one place.

OptiPromo documents the call but not its schemas (``reference/optimove-api.md`` §5), so every guess
lives here and can be corrected without touching the client or the services.

Confirmed [C]:
  - ``POST {base}/v1/promocodes/{promocodeId}/validateCustomers``, the promocode named by its id.
  - The body has ``contexts`` (an array, one object per customer) and ``campaignData`` (an object);
    the answer has ``promocodeId`` and a list of contexts whose "effects" name the tier and reward.
Inferred [I] / undocumented [GAP]:
  - The ``X-API-KEY`` header, as on the Optimove API [I].
  - Per-context keys ``customerId`` and ``sessionProperties``, and ``campaignData.campaignId`` sent
    as a string [GAP]; answer keys are matched case-insensitively.
  - An effect is ``{"tier", "reward": {"type", "amount"}}``; the amount may be a number or a numeric
    string, and the tier or type may be missing [GAP]. The first effect is the one granted [I].
  - Not eligible (budget exhausted included) is an empty or absent ``effects`` list, with an optional
    ``reason`` string beside it [GAP]. Its spellings are the simulator's (``not_eligible``,
    ``audience_cap_reached``, ``reward_budget_exhausted``, ``promotion_inactive``) [I]; each becomes
    promobridge's own reason (``optipromo:audience_cap_reached``…) here and nowhere else, compared
    ignoring case and punctuation, with OPTIPROMO_REASON_ALIASES for the vendor's real codes once
    known. No reason is ``optipromo:not_eligible``; one nobody mapped is kept as
    ``optipromo:other:<the vendor's words>`` [I].
  - At most 100 contexts a call (the simulator's default) [GAP]; answer contexts are matched to the
    request by ``customerId``, not by position, and unrequested ones are ignored [I].

The value objects sit here beside the parser that builds them; import them from ``optipromo``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from urllib.parse import quote

from app.adapters.optimove._lenient import as_text, get_field
from app.domain.claims import (
    AUDIENCE_CAP_REACHED,
    NOT_ELIGIBLE,
    OPTIPROMO_OTHER,
    PROMOTION_INACTIVE,
    REWARD_BUDGET_EXHAUSTED,
    optipromo_reason,
)
from app.domain.optimove import ValidationContext, ValidationResult

__all__ = ["VENDOR_REASONS", "OptiPromoContract", "ValidationContext", "ValidationResult"]

# How OptiPromo spells why a customer is not eligible [GAP]: the simulator's spellings
# (simulator/contract.py #14), the only ones seen so far, each with promobridge's own reason.
VENDOR_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "not_eligible": NOT_ELIGIBLE,
        "audience_cap_reached": AUDIENCE_CAP_REACHED,
        "reward_budget_exhausted": REWARD_BUDGET_EXHAUSTED,
        "promotion_inactive": PROMOTION_INACTIVE,
    }
)
# The vendor's words kept in an unmapped reason are untrusted text: printable, and this long at most.
MAX_VENDOR_REASON_CHARS = 100
_NOT_LETTERS_OR_DIGITS = re.compile(r"[^0-9a-z]+")


def _reason_key(text: str) -> str:
    """Fold "AudienceCapReached", "audience-cap-reached" and "AUDIENCE_CAP_REACHED" to one key."""
    return _NOT_LETTERS_OR_DIGITS.sub("", text.lower())


@dataclass(frozen=True)
class OptiPromoContract:
    """Path, limits and field names of ``validateCustomers`` (see the module docstring)."""

    endpoint: str = "validateCustomers"
    validate_path_template: str = "v1/promocodes/{promocode_id}/validateCustomers"
    max_contexts: int = 100
    contexts_field: str = "contexts"
    customer_id_field: str = "customerId"
    session_properties_field: str = "sessionProperties"
    campaign_data_field: str = "campaignData"
    campaign_id_field: str = "campaignId"
    effects_field: str = "effects"
    reason_field: str = "reason"
    tier_field: str = "tier"
    reward_field: str = "reward"
    reward_type_field: str = "type"
    reward_amount_field: str = "amount"
    # More spellings of the vendor's reasons (its code → a reason of VENDOR_REASONS), from
    # OPTIPROMO_REASON_ALIASES; they win over the built-in ones.
    reason_aliases: Mapping[str, str] = field(default_factory=dict)
    _reasons: Mapping[str, str] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        reasons = {_reason_key(vendor): reason for vendor, reason in VENDOR_REASONS.items()}
        for vendor, name in self.reason_aliases.items():
            if not _reason_key(vendor):
                raise ValueError(f"the OptiPromo reason code {vendor!r} has no letter or digit")
            reasons[_reason_key(vendor)] = optipromo_reason(name)
        object.__setattr__(self, "_reasons", MappingProxyType(reasons))

    def reason_for(self, vendor_reason: str | None) -> str:
        """promobridge's reason for the vendor's: mapped, not_eligible when none, else kept as said."""
        if vendor_reason is None:
            return NOT_ELIGIBLE
        mapped = self._reasons.get(_reason_key(vendor_reason))
        if mapped is not None:
            return mapped
        printable = "".join(ch if ch.isprintable() else " " for ch in vendor_reason)
        words = " ".join(printable.split())[:MAX_VENDOR_REASON_CHARS]
        return f"{OPTIPROMO_OTHER}:{words}"

    def validate_path(self, promocode_id: str) -> str:
        """The path for a promocode; quoted whole, so "/" or spaces in an id stay inside its segment."""
        return self.validate_path_template.format(promocode_id=quote(promocode_id, safe=""))

    def validate_body(
        self, contexts: Sequence[ValidationContext], campaign_id: int | str | None
    ) -> dict[str, object]:
        """The request body; ``campaignData`` is left out when no campaign is named."""
        body: dict[str, object] = {
            self.contexts_field: [
                {
                    self.customer_id_field: context.customer_id,
                    self.session_properties_field: dict(context.session_properties),
                }
                for context in contexts
            ]
        }
        if campaign_id is not None:
            body[self.campaign_data_field] = {self.campaign_id_field: str(campaign_id)}
        return body

    def parse_validate_answer(self, body: object) -> dict[str, ValidationResult]:
        """Read an answer into results keyed by customer id; ValueError on a shape we cannot trust."""
        if not isinstance(body, Mapping):
            raise ValueError(f"the answer must be a JSON object, got {type(body).__name__}")
        entries = get_field(body, self.contexts_field)
        if not isinstance(entries, list):
            raise ValueError(f"{self.contexts_field} must be a list, got {type(entries).__name__}")
        results: dict[str, ValidationResult] = {}
        for entry in entries:
            result = self._parse_context(entry)
            if result.customer_id in results:
                raise ValueError(f"customer {result.customer_id!r} is answered twice")
            results[result.customer_id] = result
        return results

    def _parse_context(self, entry: object) -> ValidationResult:
        if not isinstance(entry, Mapping):
            raise ValueError(f"a context must be an object, got {type(entry).__name__}")
        customer_id = as_text(get_field(entry, self.customer_id_field), self.customer_id_field)
        effects = get_field(entry, self.effects_field)
        if effects is None:
            effects = []
        if not isinstance(effects, list):
            raise ValueError(f"{self.effects_field} must be a list, got {type(effects).__name__}")
        if not effects:
            reason = _optional_text(get_field(entry, self.reason_field), self.reason_field)
            return ValidationResult(customer_id, False, None, None, None, self.reason_for(reason))
        effect = effects[0]
        if not isinstance(effect, Mapping):
            raise ValueError(f"an effect must be an object, got {type(effect).__name__}")
        reward = get_field(effect, self.reward_field)
        if reward is None:
            reward = {}
        if not isinstance(reward, Mapping):
            raise ValueError(f"{self.reward_field} must be an object, got {type(reward).__name__}")
        return ValidationResult(
            customer_id=customer_id,
            eligible=True,
            tier=_optional_text(get_field(effect, self.tier_field), self.tier_field),
            reward_type=_optional_text(get_field(reward, self.reward_type_field), self.reward_type_field),
            reward_amount=_optional_decimal(get_field(reward, self.reward_amount_field)),
            reason=None,
        )


def _optional_text(value: object, name: str) -> str | None:
    return None if value is None or value == "" else as_text(value, name)


def _optional_decimal(value: object) -> Decimal | None:
    """Accept a JSON number or a numeric string; floats go through ``repr`` to keep 20.5 as 20.5."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"amount must be a number or a numeric string, got {value!r}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise ValueError(f"amount must be a number or a numeric string, got {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"amount must be finite, got {value!r}")
    return amount
