"""A campaign's target group, computed on demand rather than stored.

A campaign may hold 1,000,000 customers, so nothing is kept per customer: customer ``i`` (0-based) of
campaign ``C`` has the id ``f"{C}-{i:07d}"`` (e.g. ``"1001-0000042"``), and its attributes are drawn
from ``blake2b(f"{seed}/{C}/".encode() + i.to_bytes(8, "little"), digest_size=8)``, read as four
little-endian 16-bit uniform draws: Consent, FraudFlag, VIPLevel, Country. The same seed therefore
gives the same audience in every process, which lets tests compute the expected outcome.
"""

from __future__ import annotations

import hashlib
import json
import struct
from bisect import bisect_right
from dataclasses import dataclass

DEFAULT_NO_CONSENT_RATE = 0.1
DEFAULT_FRAUD_RATE = 0.02
DEFAULT_VIP_WEIGHTS = (0.6, 0.25, 0.1, 0.05)  # probability of VIPLevel "0", "1", "2", "3"
DEFAULT_ACTION_ID = 1
COUNTRIES = ("GB", "DE", "SE", "FI", "CA", "BR")
CUSTOMER_INDEX_DIGITS = 7

DRAW_RESOLUTION = 1 << 16  # each draw is a 16-bit integer, i.e. a uniform in steps of 1/65536
_DRAWS = struct.Struct("<4H")
_INDEX_BYTES = 8

ATTRIBUTE_NAMES = ("Consent", "FraudFlag", "VIPLevel", "Country", "Email")

Draws = tuple[int, int, int, int]
_VIP_LEVELS = ("0", "1", "2", "3")


def default_promo_code(campaign_id: int) -> str:
    """The promo code a campaign gets when none is given."""
    return f"PROMO-{campaign_id}"


@dataclass(frozen=True)
class AudienceSpec:
    """What a campaign's audience looks like; rates are probabilities in [0, 1]."""

    campaign_id: int
    size: int
    promo_code: str
    action_id: int = DEFAULT_ACTION_ID
    no_consent_rate: float = DEFAULT_NO_CONSENT_RATE
    fraud_rate: float = DEFAULT_FRAUD_RATE
    vip_weights: tuple[float, ...] = DEFAULT_VIP_WEIGHTS

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must not be negative")
        for name, rate in (("no_consent_rate", self.no_consent_rate), ("fraud_rate", self.fraud_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if len(self.vip_weights) != 4 or any(w < 0 for w in self.vip_weights) or sum(self.vip_weights) <= 0:
            raise ValueError("vip_weights must be 4 non-negative numbers with a positive sum")


class Audience:
    """Read-only and lock-free: every value is a pure function of (seed, campaign id, index)."""

    def __init__(self, spec: AudienceSpec, seed: int) -> None:
        self.spec = spec
        self._prefix = f"{spec.campaign_id}-"
        self._hasher = hashlib.blake2b(f"{seed}/{spec.campaign_id}/".encode(), digest_size=_DRAWS.size)
        self._no_consent_below = round(spec.no_consent_rate * DRAW_RESOLUTION)
        self._fraud_below = round(spec.fraud_rate * DRAW_RESOLUTION)
        total = sum(spec.vip_weights)
        cumulative, running = [], 0.0
        for weight in spec.vip_weights[:-1]:
            running += weight
            cumulative.append(round(running / total * DRAW_RESOLUTION))
        self._vip_bounds = tuple(cumulative)
        self._row_tail = f',"ActionID":{spec.action_id},"PromoCode":{json.dumps(spec.promo_code)}'

    @property
    def size(self) -> int:
        """Number of customers in the target group."""
        return self.spec.size

    def customer_id(self, index: int) -> str:
        """The Optimove CustomerID of customer ``index``."""
        return f"{self._prefix}{index:0{CUSTOMER_INDEX_DIGITS}d}"

    def index_of(self, customer_id: str) -> int | None:
        """The index of ``customer_id`` in this audience, or None if it is not a member."""
        if not customer_id.startswith(self._prefix):
            return None
        digits = customer_id[len(self._prefix) :]
        if not digits.isascii() or not digits.isdigit():
            return None
        index = int(digits)
        if index >= self.spec.size or self.customer_id(index) != customer_id:
            return None
        return index

    def attributes(self, index: int) -> dict[str, str]:
        """Every attribute of customer ``index`` (the ground truth the inspection API shows)."""
        indices = range(index, index + 1)
        draws = [self._draws(index)]
        return {
            name: value
            for name in ATTRIBUTE_NAMES
            if (value := self._column(name, indices, draws)[0]) is not None
        }

    def page_json(self, skip: int, top: int, attribute_names: list[str] | None) -> str:
        """Rows ``skip .. skip+top-1`` as the JSON text GetProcessedCampaignCustomers answers (contract #6).

        Built as text, column by column, because this is the hot path: a 10,000-row page through
        dicts and ``json.dumps`` costs several times more. It is safe because every generated value is
        plain ASCII with no quote or backslash; only the promo code is escaped (once, in ``__init__``).
        """
        indices = range(skip, min(self.spec.size, skip + top))
        ids = [self.customer_id(i) for i in indices]
        tail = self._row_tail
        if attribute_names is None:
            rows = [f'{{"CustomerID":"{cid}"{tail}}}' for cid in ids]
        else:
            draws = [self._draws(i) for i in indices]
            columns = [_json_fragments(self._column(name, indices, draws)) for name in attribute_names]
            values = [",".join(row) for row in zip(*columns, strict=True)] if columns else [""] * len(ids)
            rows = [
                f'{{"CustomerID":"{cid}"{tail},"CustomerAttributes":[{row}]}}'
                for cid, row in zip(ids, values, strict=True)
            ]
        return "[" + ",".join(rows) + "]"

    def _column(self, name: str, indices: range, draws: list[Draws]) -> list[str] | list[None]:
        """One attribute's values for ``indices`` (``draws`` aligned with them); None for unknown names."""
        match name:
            case "Consent":
                below = self._no_consent_below
                return ["0" if d[0] < below else "1" for d in draws]
            case "FraudFlag":
                below = self._fraud_below
                return ["1" if d[1] < below else "0" for d in draws]
            case "VIPLevel":
                bounds = self._vip_bounds
                return [_VIP_LEVELS[bisect_right(bounds, d[2])] for d in draws]
            case "Country":
                return [COUNTRIES[d[3] % len(COUNTRIES)] for d in draws]
            case "Email":
                return [f"user{i}@example.test" for i in indices]
            case _:
                return [None] * len(indices)

    def _draws(self, index: int) -> Draws:
        hasher = self._hasher.copy()
        hasher.update(index.to_bytes(_INDEX_BYTES, "little"))
        draws: Draws = _DRAWS.unpack(hasher.digest())
        return draws


def _json_fragments(values: list[str] | list[None]) -> list[str]:
    return ["null" if value is None else f'"{value}"' for value in values]
