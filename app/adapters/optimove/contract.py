"""Everything promobridge assumes about Optimove's wire format, in one place.

Much of the contract is not documented (tags refer to ``reference/optimove-api.md``), so every
guess lives here and can be corrected without touching the client or the services.

Confirmed [C]:
  - ``X-API-KEY`` header, JSON bodies (§1.2); 50 requests per 10 s per key, 429 beyond (§1.3).
  - UpdateCustomerPromotionStatus body ``{TimeStamp "yyyy-MM-dd HH:mm:ss", CampaignID, PromosUpdated:
    [{CustomerID, Status}]}``, at most 10,000 customers per call (§6.1).
  - EventTypeID 5 must be registered without a ChannelID (§2); its notification carries
    ClearanceRequiredBy (§3).
  - ``CustomerAttributes`` is a ``;``-separated query parameter answered by a positional array on the
    sibling customer functions (§4).
Inferred [I] / third-party [3P] / undocumented [GAP]:
  - Paths relative to OPTIMOVE_API_URL, lower-case group segment (§2, §4, §6.1) [I].
  - ``$top``/``$skip`` paging with at most 10,000 rows a page, end on a short page (§1.5) [3P].
  - GetProcessedCampaignCustomers parameters and rows ``{CustomerID, ActionID, PromoCode,
    CustomerAttributes}``, ids as numbers or strings (§4) [I].
  - ``EventTypeID``/``ListenerURL`` request fields (§2) [3P]; the GetRegisteredEventListeners answer
    shape is [GAP], so a list, a wrapped list, a single object and an id→URL map are all accepted.
  - The triggered webhook registration body ``{"url": …}`` (§7.1) [GAP].
  - The EventTypeID 5 body (§3) [GAP]: keys matched case-insensitively, numbers as int or string,
    timestamps parsed leniently, naive ones read in the tenant's time zone (§1.6) [I]. Ids are
    stored as signed 64-bit integers, so a larger one is refused as malformed rather than stored.
  - Webhook media type: the gateway call is "an HTTP POST request in JSON format" (§7.2) [C]; what
    header the EventTypeID 5 listener call carries is [GAP] (no sample delivery, §3), so both are
    expected as ``Content-Type: application/json`` [I]. Should a real delivery differ, operators
    add its media type with WEBHOOK_EXTRA_CONTENT_TYPES instead of waiting for a release.
  - Redeliveries (§3) [GAP]: Optimove documents no delivery id and no retry policy. Two events are
    taken for the same delivery when ``EVENT_IDENTITY_FIELDS`` agree (TimeStamp is left out: a
    retry may be stamped anew); an event that differs in them is a different event, stored and
    surfaced, not silently dropped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

from app.adapters.optimove._lenient import as_int, as_scalar_text, as_text, get_field, normalize_key
from app.domain.audience import AttributeColumns, CustomerPage
from app.domain.optimove import CampaignCustomer, CampaignEvent, InvalidCampaignEvent, RegisteredListener

__all__ = [
    "EVENT_IDENTITY_FIELDS",
    "EVENT_TYPE_CAMPAIGN_CANCELED",
    "EVENT_TYPE_SCHEDULED_CONDITIONAL",
    "MAX_OPTIMOVE_ID",
    "WEBHOOK_MEDIA_TYPE",
    "CampaignEvent",
    "InvalidCampaignEvent",
    "OptimoveContract",
    "OptimoveEventContract",
    "event_differences",
    "event_fingerprint",
    "parse_campaign_event",
    "parse_optimove_id",
    "parse_optimove_timestamp",
]

EVENT_TYPE_CAMPAIGN_CANCELED = 4
EVENT_TYPE_SCHEDULED_CONDITIONAL = 5
MAX_OPTIMOVE_ID = 2**63 - 1  # campaign and event type ids live in signed 64-bit columns
WEBHOOK_MEDIA_TYPE = "application/json"  # what Optimove's webhook calls are expected to declare

_TIMESTAMP_RE = re.compile(
    r"^(?P<year>\d{4})(?P<sep>[-/])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})[ T]+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"\s*(?P<zone>Z|UTC|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE | re.ASCII,
)
_EPOCH_RE = re.compile(r"^\d{9,11}(?:\.\d+)?$", re.ASCII)
_MICROSECOND_DIGITS = 6


@dataclass(frozen=True)
class OptimoveContract:
    """Paths, parameter names, limits and field names of the Optimove API (see module docstring)."""

    register_listener_path: str = "general/RegisterEventListener"
    get_listeners_path: str = "general/GetRegisteredEventListeners"
    unregister_listener_path: str = "general/UnregisterEventListener"
    campaign_customers_path: str = "customers/GetProcessedCampaignCustomers"
    update_status_path: str = "integrations/UpdateCustomerPromotionStatus"
    triggered_webhooks_path: str = "conditional-execution/v2/triggered/webhooks/"
    campaign_id_param: str = "CampaignID"
    top_param: str = "$top"
    skip_param: str = "$skip"
    max_page_size: int = 10_000
    max_status_batch: int = 10_000
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    attributes_param: str = "CustomerAttributes"
    attributes_delimiter: str = ";"
    event_type_field: str = "EventTypeID"
    listener_url_field: str = "ListenerURL"
    listener_wrapper_keys: tuple[str, ...] = (
        "EventListeners",
        "RegisteredEventListeners",
        "Listeners",
        "Data",
        "Items",
        "Value",
        "Result",
    )
    customer_id_field: str = "CustomerID"
    action_id_field: str = "ActionID"
    promo_code_field: str = "PromoCode"
    customer_attributes_field: str = "CustomerAttributes"
    triggered_webhook_url_field: str = "url"

    def parse_customer_row(self, row: object, attributes: Sequence[str]) -> CampaignCustomer:
        """Turn one customer row into a ``CampaignCustomer``; raises ValueError on a malformed row."""
        if not isinstance(row, Mapping):
            raise ValueError(f"a customer row must be an object, got {type(row).__name__}")
        fast = self._parse_exact_row(row, attributes)
        if fast is not None:
            return fast
        action_id = get_field(row, self.action_id_field)
        promo_code = get_field(row, self.promo_code_field)
        return CampaignCustomer(
            customer_id=as_text(get_field(row, self.customer_id_field), self.customer_id_field),
            action_id=None if action_id in (None, "") else as_int(action_id, self.action_id_field),
            promo_code=None if promo_code in (None, "") else as_text(promo_code, self.promo_code_field),
            attributes=self._map_attributes(get_field(row, self.customer_attributes_field), attributes),
        )

    def parse_customer_page(self, rows: list[object], attributes: Sequence[str]) -> CustomerPage:
        """Turn a page of customer rows into columns; raises ValueError on a malformed row.

        A page whose every row has exactly the documented keys and types is read column by column,
        with no object per customer; any other page is read row by row, leniently.
        """
        fast = self._exact_page(rows, tuple(attributes))
        if fast is not None:
            return fast
        parsed = [self.parse_customer_row(row, attributes) for row in rows]
        return CustomerPage(
            [c.customer_id for c in parsed],
            [c.action_id for c in parsed],
            [c.promo_code for c in parsed],
            [c.attributes for c in parsed],
        )

    def _exact_page(self, rows: list[object], names: tuple[str, ...]) -> CustomerPage | None:
        # What _parse_exact_row checks per row, checked per column: a set of types per column.
        if not rows:
            return CustomerPage([], [], [], [])
        if set(map(type, rows)) != {dict}:
            return None
        page: list[dict[str, object]] = rows  # type: ignore[assignment]
        ids = [row.get(self.customer_id_field) for row in page]
        actions = [row.get(self.action_id_field) for row in page]
        promos = [row.get(self.promo_code_field) for row in page]
        if set(map(type, ids)) != {str} or "" in ids:
            return None
        if not set(map(type, actions)) <= {int, type(None)}:
            return None
        distinct_promos = set(promos)
        if not set(map(type, distinct_promos)) <= {str, type(None)} or "" in distinct_promos:
            return None
        if not names:
            return CustomerPage(ids, actions, promos, AttributeColumns((), (), len(page)))  # type: ignore[arg-type]
        raw = [row.get(self.customer_attributes_field) for row in page]
        if set(map(type, raw)) != {list} or set(map(len, raw)) != {len(names)}:  # type: ignore[arg-type]
            return None
        if not set(map(type, itertools.chain.from_iterable(raw))) <= {str, type(None)}:  # type: ignore[arg-type]
            return None
        # Transposed into one column per attribute, in C: no dict per customer.
        columns = list(zip(*raw, strict=True))
        return CustomerPage(ids, actions, promos, AttributeColumns(names, columns, len(page)))  # type: ignore[arg-type]

    def _parse_exact_row(self, row: Mapping[str, object], names: Sequence[str]) -> CampaignCustomer | None:
        # Pages hold up to 10,000 rows: when a row has exactly the documented keys and types, skip the
        # lenient per-field lookups (a third of a page's CPU); anything unusual takes the lenient path.
        customer_id = row.get(self.customer_id_field)
        action_id = row.get(self.action_id_field)
        promo_code = row.get(self.promo_code_field)
        raw = row.get(self.customer_attributes_field) if names else None
        if (
            type(customer_id) is not str
            or not customer_id
            or (action_id is not None and type(action_id) is not int)
            or (promo_code is not None and (type(promo_code) is not str or not promo_code))
            or (names and (type(raw) is not list or len(raw) != len(names)))
        ):
            return None
        values: list[object] = raw if isinstance(raw, list) else []
        for value in values:
            if value is not None and type(value) is not str:
                return None
        return CampaignCustomer(
            customer_id=customer_id,
            action_id=action_id,
            promo_code=promo_code,
            attributes=dict(zip(names, values, strict=True)),  # type: ignore[arg-type]
        )

    def _map_attributes(self, raw: object, names: Sequence[str]) -> dict[str, str | None]:
        # The answer is positional, in the order the names were requested (§4).
        field = self.customer_attributes_field
        if not names:
            return {}
        if raw is None:
            return dict.fromkeys(names)
        if isinstance(raw, Mapping):
            return {name: as_scalar_text(get_field(raw, name), field) for name in names}
        values = raw.split(self.attributes_delimiter) if isinstance(raw, str) else raw
        if not isinstance(values, list) or len(values) != len(names):
            raise ValueError(f"{field} does not match the {len(names)} requested attribute names")
        return {name: as_scalar_text(value, field) for name, value in zip(names, values, strict=True)}

    def parse_registered_listeners(self, body: object) -> list[RegisteredListener]:
        """Read a GetRegisteredEventListeners answer of any accepted shape; ValueError if none fits."""
        return [self._parse_listener(item) for item in self._listener_items(body)]

    def _listener_items(self, body: object) -> list[object]:
        if body is None:
            return []
        if isinstance(body, list):
            return body
        if not isinstance(body, Mapping):
            raise ValueError(f"listeners must be a list or an object, got {type(body).__name__}")
        if not body:
            return []
        if get_field(body, self.event_type_field) is not None:
            return [body]
        for key in self.listener_wrapper_keys:
            wrapped = get_field(body, key)
            if isinstance(wrapped, list):
                return wrapped
        lists = [value for value in body.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
        if all(str(key).strip().isdigit() and isinstance(url, str) for key, url in body.items()):
            return [{self.event_type_field: key, self.listener_url_field: url} for key, url in body.items()]
        raise ValueError(f"no list of listeners found under keys {sorted(map(str, body))}")

    def _parse_listener(self, item: object) -> RegisteredListener:
        if not isinstance(item, Mapping):
            raise ValueError(f"a listener must be an object, got {type(item).__name__}")
        url = as_text(get_field(item, self.listener_url_field), self.listener_url_field)
        if "://" not in url and "%3a%2f%2f" in url.lower():
            url = unquote_plus(url)  # one third-party client registers URL-encoded URLs (§2) [3P]
        return RegisteredListener(as_int(get_field(item, self.event_type_field), self.event_type_field), url)


def parse_optimove_timestamp(value: str | int | float, tz: ZoneInfo) -> datetime:
    """Read an Optimove date-time leniently and return it as an aware UTC datetime.

    Accepts "yyyy-MM-dd HH:mm[:ss[.ffffff]]", a "T" separator, "/" date separators, "Z", "UTC" or
    "±HH:MM" offsets, and epoch seconds. A value without an offset is read in ``tz``, the tenant's
    time zone, because Optimove's sample timestamps carry none (§1.6). Raises ValueError otherwise.
    """
    if isinstance(value, bool):
        raise ValueError("timestamp must be a date-time string or epoch seconds, got a boolean")
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be a string or a number, got {type(value).__name__}")
    text = value.strip()
    if _EPOCH_RE.match(text):
        return _from_epoch(float(text))
    match = _TIMESTAMP_RE.match(text)
    if match is None:
        raise ValueError(f"unrecognised timestamp {value!r}; expected e.g. '2025-05-01 09:00:00'")
    fraction = (match["fraction"] or "").ljust(_MICROSECOND_DIGITS, "0")[:_MICROSECOND_DIGITS]
    try:
        parsed = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction),
        )
    except ValueError as exc:
        raise ValueError(f"invalid timestamp {value!r}: {exc}") from None
    try:
        return parsed.replace(tzinfo=_zone(match["zone"], tz)).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"invalid timestamp {value!r}: {exc}") from None


def _zone(text: str | None, default: ZoneInfo) -> tzinfo:
    if not text:
        return default
    if text.upper() in ("Z", "UTC"):
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-offset if text[0] == "-" else offset)  # ValueError beyond ±24 h


def _from_epoch(seconds: float) -> datetime:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"epoch seconds must be a finite, non-negative number, got {seconds!r}")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"epoch seconds out of range: {seconds!r}") from exc


# The fields that tell one event from another of the same (EventTypeID, CampaignID) (see the module
# docstring): equal in these, two deliveries are the same event.
EVENT_IDENTITY_FIELDS = ("EventTypeID", "CampaignID", "ClearanceRequiredBy")


def _identity(event: CampaignEvent) -> dict[str, object]:
    deadline = event.clearance_required_by
    values: dict[str, object] = {
        "EventTypeID": event.event_type_id,
        "CampaignID": event.campaign_id,
        "ClearanceRequiredBy": None if deadline is None else deadline.astimezone(UTC).isoformat(),
    }
    return {name: values[name] for name in EVENT_IDENTITY_FIELDS}


def event_fingerprint(event: CampaignEvent) -> str:
    """A stable hash of the fields that identify an event; equal for a redelivery of the same event."""
    canonical = json.dumps(_identity(event), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_differences(first: CampaignEvent, other: CampaignEvent) -> dict[str, tuple[object, object]]:
    """The identity fields in which `other` differs from `first`: name -> (first's value, other's)."""
    a, b = _identity(first), _identity(other)
    return {name: (a[name], b[name]) for name in EVENT_IDENTITY_FIELDS if a[name] != b[name]}


_EVENT_FIELDS = {
    "eventtypeid": "EventTypeID",
    "campaignid": "CampaignID",
    "timestamp": "TimeStamp",
    "clearancerequiredby": "ClearanceRequiredBy",
}


def parse_campaign_event(payload: Mapping[str, object], tz: ZoneInfo) -> CampaignEvent:
    """Validate a listener notification body; raises InvalidCampaignEvent saying which field is wrong.

    Unknown keys are kept in ``extra`` (the schema is undocumented, §3). An unreadable TimeStamp is
    informational only, so it is kept in ``extra`` rather than rejecting the event.
    """
    if not isinstance(payload, Mapping):
        message = f"event body must be a JSON object, got {type(payload).__name__}"
        raise InvalidCampaignEvent(message, field="")
    known: dict[str, object] = {}
    extra: dict[str, object] = {}
    for key, value in payload.items():
        name = _EVENT_FIELDS.get(normalize_key(str(key)))
        if name is None:
            extra[str(key)] = value
        elif name in known and known[name] != value:
            raise InvalidCampaignEvent(f"{name} is given twice with different values", field=name)
        else:
            known[name] = value
    event_type_id = _positive_int(known, "EventTypeID")
    campaign_id = _positive_int(known, "CampaignID")
    try:
        timestamp = _optional_timestamp(known.get("TimeStamp"), tz)
    except ValueError:
        timestamp = None
        extra["TimeStamp"] = known["TimeStamp"]
    try:
        clearance = _optional_timestamp(known.get("ClearanceRequiredBy"), tz)
    except ValueError as exc:
        message = f"ClearanceRequiredBy is not a date-time: {exc}"
        raise InvalidCampaignEvent(message, field="ClearanceRequiredBy") from None
    if clearance is None and event_type_id == EVENT_TYPE_SCHEDULED_CONDITIONAL:
        raise InvalidCampaignEvent("EventTypeID 5 requires ClearanceRequiredBy", field="ClearanceRequiredBy")
    return CampaignEvent(event_type_id, campaign_id, timestamp, clearance, extra)


def _optional_timestamp(value: object, tz: ZoneInfo) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float):
        raise ValueError(f"expected a string or a number, got {type(value).__name__}")
    return parse_optimove_timestamp(value, tz)


def parse_optimove_id(value: object, name: str) -> int:
    """A campaign or event type id sent as a number or a numeric string; ValueError naming `name`.

    Ids must fit the signed 64-bit columns they are stored in: 1e20 is refused, not truncated.
    """
    number = as_int(value, name)
    if not 1 <= number <= MAX_OPTIMOVE_ID:
        shown = str(number) if abs(number) <= MAX_OPTIMOVE_ID else f"a {len(str(abs(number)))}-digit number"
        raise ValueError(f"{name} must be a positive integer no larger than {MAX_OPTIMOVE_ID}, got {shown}")
    return number


def _positive_int(known: Mapping[str, object], name: str) -> int:
    value = known.get(name)
    if value is None or value == "":
        raise InvalidCampaignEvent(f"{name} is missing", field=name)
    try:
        return parse_optimove_id(value, name)
    except ValueError as exc:
        raise InvalidCampaignEvent(str(exc), field=name) from None


@dataclass(frozen=True)
class OptimoveEventContract:
    """The listener events' contract as the services see it (``app.services.ports.EventContract``)."""

    timezone: ZoneInfo

    def parse(self, payload: Mapping[str, object]) -> CampaignEvent:
        """Read a listener body, naive timestamps in the tenant's time zone."""
        return parse_campaign_event(payload, self.timezone)

    def fingerprint(self, event: CampaignEvent) -> str:
        """Equal for two deliveries of the same event (see EVENT_IDENTITY_FIELDS)."""
        return event_fingerprint(event)

    def differences(self, first: CampaignEvent, other: CampaignEvent) -> dict[str, tuple[object, object]]:
        """The identity fields in which `other` differs from `first`."""
        return event_differences(first, other)
