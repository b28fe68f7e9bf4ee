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
import sys
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

from simulator.page_text import Piece, rows_parts

DEFAULT_NO_CONSENT_RATE = 0.1
DEFAULT_FRAUD_RATE = 0.02
DEFAULT_VIP_WEIGHTS = (0.6, 0.25, 0.1, 0.05)  # probability of VIPLevel "0", "1", "2", "3"
DEFAULT_ACTION_ID = 1
COUNTRIES = ("GB", "DE", "SE", "FI", "CA", "BR")
CUSTOMER_INDEX_DIGITS = 7

DRAW_RESOLUTION = 1 << 16  # each draw is a 16-bit integer, i.e. a uniform in steps of 1/65536
_DRAWS_PER_CUSTOMER = 4
_DIGEST_BYTES = 2 * _DRAWS_PER_CUSTOMER
_DRAWS = struct.Struct("<4H")
_INDEX_BYTES = 8

ATTRIBUTE_NAMES = ("Consent", "FraudFlag", "VIPLevel", "Country", "Email")
# The draw deciding each drawn attribute, in ATTRIBUTE_NAMES order (Email is not drawn).
_DRAW_OF = {"Consent": 0, "FraudFlag": 1, "VIPLevel": 2, "Country": 3}

_VIP_LEVELS = ("0", "1", "2", "3")
_LOW_DIGITS = 4  # a page is rendered in blocks of 10**4 indices that share all but their last 4 digits
_BLOCK = 10**_LOW_DIGITS
_PADDED_LOWS = tuple(f"{low:0{_LOW_DIGITS}d}" for low in range(_BLOCK))
_PLAIN_LOWS = tuple(map(str, range(_BLOCK)))
_TABLES_KEPT = 32  # distinct rates/weights whose value tables stay cached (256 KB each on 64-bit)


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
    """Read-only and lock-free: every value is a pure function of (seed, campaign id, index).

    Pages are computed when asked, column at once: one hash per customer, each attribute read from a
    65,536-entry table of its value per draw (a pure function of the rates, shared between campaigns),
    ids from a table of last four digits, and the text joined in C (``page_text``).
    """

    def __init__(self, spec: AudienceSpec, seed: int) -> None:
        self.spec = spec
        self._prefix = f"{spec.campaign_id}-"
        self._hasher = hashlib.blake2b(f"{seed}/{spec.campaign_id}/".encode(), digest_size=_DIGEST_BYTES)
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

    def indices_of(self, customer_ids: list[str]) -> Sequence[int | None]:
        """``index_of`` of each id, for a call of members without a Python step per id.

        An id of the prefix and exactly seven ASCII digits is the member's id of that index whenever
        the index is in the audience, so those checks, made on the whole call at once, say the same
        as ``index_of``; any other call (a stranger, a longer index) is answered id by id.
        """
        prefix_length = len(self._prefix)
        width = prefix_length + CUSTOMER_INDEX_DIGITS
        if set(map(len, customer_ids)) <= {width}:
            # Laid end to end, the ids' k-th characters are every width-th character from k.
            text = "".join(customer_ids)
            if [text[k::width] for k in range(prefix_length)] == [
                char * len(customer_ids) for char in self._prefix
            ]:
                digits = "".join([text[k::width] for k in range(prefix_length, width)])
                if digits.isascii() and digits.isdigit():
                    indices = list(map(int, map(itemgetter(slice(prefix_length, None)), customer_ids)))
                    if not indices or max(indices) < self.spec.size:
                        return indices
        return list(map(self.index_of, customer_ids))

    def attributes(self, index: int) -> dict[str, str]:
        """Every attribute of customer ``index`` (the ground truth the inspection API shows)."""
        hasher = self._hasher.copy()
        hasher.update(index.to_bytes(_INDEX_BYTES, "little"))
        draws = _DRAWS.unpack(hasher.digest())
        values = {name: self._table(name)[draws[position]] for name, position in _DRAW_OF.items()}
        return {**values, "Email": f"user{index}@example.test"}

    def page_json(self, skip: int, top: int, attribute_names: list[str] | None) -> str:
        """Rows ``skip .. skip+top-1`` as the JSON text GetProcessedCampaignCustomers answers (contract #6).

        Built as text from columns, because this is the hot path: a 10,000-row page through dicts and
        ``json.dumps`` costs several times more. It is safe because every generated value is plain
        ASCII with no quote or backslash; only the promo code is escaped (once, in ``__init__``).
        Raises ``ValueError`` for a negative ``skip`` (the API refuses one before asking).
        """
        if skip < 0:
            raise ValueError("skip must not be negative")
        indices = range(skip, min(self.spec.size, skip + top))
        names = [] if attribute_names is None else attribute_names
        draws = self._draw_columns(indices) if any(name in _DRAW_OF for name in names) else []
        drawn = {
            name: _values_of(self._table(name), draws[_DRAW_OF[name]]) for name in names if name in _DRAW_OF
        }
        parts = ["["]
        stop = indices.start
        while stop < indices.stop:
            start, high = stop, stop // _BLOCK
            stop = min(indices.stop, (high + 1) * _BLOCK)
            page_rows = slice(start - skip, stop - skip)
            block_rows = slice(start - high * _BLOCK, stop - high * _BLOCK)
            pieces = self._row_pieces(high, block_rows)
            if attribute_names is not None:
                pieces.append(',"CustomerAttributes":[')
                for position, name in enumerate(attribute_names):
                    if position:
                        pieces.append(",")
                    column = drawn.get(name)
                    values = None if column is None else column[page_rows]
                    pieces += self._attribute_pieces(name, values, high, block_rows)
                pieces.append("]")
            pieces.append("}")
            if start > indices.start:
                parts.append(",")
            parts += rows_parts(pieces, stop - start)
        parts.append("]")
        return "".join(parts)

    def _row_pieces(self, high: int, block_rows: slice) -> list[Piece]:
        """A row up to its attributes, for the indices ``high * 10**4 + block_rows``."""
        return [
            '{"CustomerID":"' + self._prefix + f"{high:0{CUSTOMER_INDEX_DIGITS - _LOW_DIGITS}d}",
            _PADDED_LOWS[block_rows],
            '"' + self._row_tail,
        ]

    @staticmethod
    def _attribute_pieces(
        name: str, drawn: Sequence[str] | None, high: int, block_rows: slice
    ) -> list[Piece]:
        """One attribute's JSON value in each row of a block (``drawn``: its values there, if drawn)."""
        if drawn is not None:
            return ['"', drawn, '"']
        if name == "Email":  # "user{index}": the block's high digits then four, or the index alone
            if high == 0:
                return ['"user', _PLAIN_LOWS[block_rows], '@example.test"']
            return [f'"user{high}', _PADDED_LOWS[block_rows], '@example.test"']
        return ["null"]

    def _table(self, name: str) -> tuple[str, ...]:
        """The value of the drawn attribute ``name`` (a key of ``_DRAW_OF``) for every possible draw."""
        match name:
            case "Consent":
                return _two_valued(self._no_consent_below, below="0", above="1")
            case "FraudFlag":
                return _two_valued(self._fraud_below, below="1", above="0")
            case "VIPLevel":
                return _vip_levels(self._vip_bounds)
            case "Country":
                return _COUNTRY_OF_DRAW
            case _:
                raise KeyError(f"{name} is not a drawn attribute")

    def _draw_columns(self, indices: range) -> list[array[int]]:
        """The four draws of each customer in ``indices``, as four columns."""
        copy = self._hasher.copy
        digests: list[bytes] = []
        append = digests.append
        for index in indices:
            hasher = copy()
            hasher.update(index.to_bytes(_INDEX_BYTES, "little"))
            append(hasher.digest())
        draws = array("H", b"".join(digests))
        if sys.byteorder != "little":
            draws.byteswap()
        return [draws[k::_DRAWS_PER_CUSTOMER] for k in range(_DRAWS_PER_CUSTOMER)]


def _values_of(table: tuple[str, ...], draws: array[int]) -> Sequence[str]:
    """``table[draw]`` for each of ``draws``, in C."""
    if len(draws) < 2:
        return [table[draw] for draw in draws]  # itemgetter of one item answers the item, not a tuple
    values: tuple[str, ...] = itemgetter(*draws)(table)
    return values


# COUNTRIES[draw % len(COUNTRIES)] for every draw, written as whole cycles and the start of one more.
_COUNTRY_OF_DRAW = (
    COUNTRIES * (DRAW_RESOLUTION // len(COUNTRIES)) + COUNTRIES[: DRAW_RESOLUTION % len(COUNTRIES)]
)


@lru_cache(maxsize=_TABLES_KEPT)
def _two_valued(threshold: int, below: str, above: str) -> tuple[str, ...]:
    """The value of each draw: ``below`` under ``threshold``, ``above`` from it on."""
    return (below,) * threshold + (above,) * (DRAW_RESOLUTION - threshold)


@lru_cache(maxsize=_TABLES_KEPT)
def _vip_levels(bounds: tuple[int, ...]) -> tuple[str, ...]:
    """The VIPLevel of each draw: how many of the cumulative ``bounds`` it reaches (``bisect_right``)."""
    return tuple(_VIP_LEVELS[bisect_right(bounds, draw)] for draw in range(DRAW_RESOLUTION))
