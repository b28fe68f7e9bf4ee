"""Hypothesis sends hostile bodies, headers and paths to every endpoint through the Flask test client.

Whatever arrives, the answer is below 500, an error is a JSON object with the security headers, a
405 says what is allowed, the gateway refuses on every error, and a 4xx writes nothing
(`HostileTarget.observe` checks all of it). Runs are derandomized: the same examples every time.
Most examples are valid in all but one or two ways, so that they get past the token, media-type
and key checks and reach the parsing, range checks and database code behind them.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import quote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.hostile import (
    AUDIENCE,
    CLAIM_CAMPAIGN_ID,
    SCRUBBED_CUSTOMER,
    TOKEN,
    HostileTarget,
    Observed,
)

T = TypeVar("T")
EXAMPLES = 260
JSON = "application/json"
LOCAL = "http://localhost"  # an explicit origin: the test client reads "//webhooks/…" as a host name
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def mostly(usual: T, otherwise: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` about three times in four, else whatever `otherwise` draws."""
    return mostly_from(st.just(usual), otherwise)


def mostly_from(usual: st.SearchStrategy[Any], otherwise: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A draw from `usual` about three times in four, else from `otherwise`."""
    # Not n == 0: Hypothesis favours the bounds of a range, which would make "otherwise" the usual.
    return st.integers(0, 3).flatmap(lambda n: otherwise if n == 2 else usual)


# --- values ------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
awkward_numbers = st.sampled_from(
    [0, -1, 2**31, 2**63 - 1, 2**63, 2**64, 2**70, -(2**63), 1e20, -1e20, 1.5, 1359.0, 1e308, 5e-324]
)
awkward_ids = (
    st.sampled_from(["5", " 4 ", "1359", "+7", "0x10", "١٢", "1_000", "", True, None, [1], {"id": 1}])
    | awkward_numbers
    | st.integers()
    | st.text(max_size=24)
)
campaign_ids = mostly_from(st.sampled_from([CLAIM_CAMPAIGN_ID, 7]) | st.integers(1, 10**6), awkward_ids)
timestamps = mostly_from(
    st.datetimes().map(str),
    st.sampled_from(
        [
            "2026-11-25T09:00:00Z",
            "2026/11/25 09:00:00+14:00",
            "2026-02-30 09:00",
            "0001-01-01 00:00-23:59",
            "9999-12-31 23:59:59+23:59",
            "1764000000",
            "",
        ]
    )
    | awkward_numbers
    | st.text(max_size=30),
)
# Bodies no json.dumps would write: each one a way Python's json (or PostgreSQL) goes wrong.
hostile_bodies = st.sampled_from(
    [
        b'{"a": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        b'{"a": NaN}',
        b'{"a": Infinity, "b": -Infinity}',
        b'{"a": 1e999}',
        b'{"a": 1' + b"0" * 5_000 + b"}",
        b'{"k": 1, "k": 2}',
        b'{"s": "\\ud800"}',
        b'{"s": "\\u0000"}',
        b"\xef\xbb\xbf{}",
        b"\xff\xfe\x00\x00",
        b"",
        b"null",
        b"[]",
        b'"just a string"',
        b'{"a": 1',
    ]
)
header_text = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF, exclude_characters="\r\n"), max_size=60
)
content_types = mostly(
    "application/json",
    st.sampled_from(
        [
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/json; charset=latin-1",
            "application/problem+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ]
    )
    | st.none()
    | header_text,
)
authorizations = mostly(
    "valid", st.sampled_from(["none", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer pb_0000_x"]) | header_text
)
optional_headers = st.none() | header_text


def bodies(payloads: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Half the time `payloads` as JSON; else a hostile body, any JSON, or random bytes."""
    encoded = payloads.map(lambda value: json.dumps(value).encode())
    anything = json_values.map(lambda value: json.dumps(value).encode()) | st.binary(max_size=120)
    return st.one_of(encoded, hostile_bodies, encoded, anything)


def _deeply_nested(levels: int, **fields: object) -> bytes:
    head = json.dumps(fields)[:-1] + (", " if fields else "")
    return (head + '"nested": ' + "[" * levels + "]" * levels + "}").encode()


def _event_with_campaign_id(literal: str) -> bytes:
    return (
        b'{"EventTypeID": 5, "CampaignID": %s, "ClearanceRequiredBy": "2026-11-25 09:00"}' % literal.encode()
    )


# The inputs issue 7 found answered with a 500, sent on every run besides the generated ones.
DEEP_EVENT = _deeply_nested(10_000, EventTypeID=4, CampaignID=12)
DEEP_CALL = _deeply_nested(10_000, user={"user_id": "c-2"}, campaign={"id": CLAIM_CAMPAIGN_ID})
DEEP_CLAIM = _deeply_nested(1_000, campaign_id=CLAIM_CAMPAIGN_ID, customer_id="c-2")
NAN_CLAIM = b'{"campaign_id": %d, "customer_id": "c-2", "session_properties": {"x": NaN}}' % CLAIM_CAMPAIGN_ID
BIG_ID_CALL = b'{"user": {"user_id": "c-2"}, "campaign": {"id": %d}}' % 2**63


listener_events = st.fixed_dictionaries(
    {"EventTypeID": mostly_from(st.sampled_from([4, 5]), awkward_ids), "CampaignID": campaign_ids},
    optional={
        "ClearanceRequiredBy": timestamps,
        "TimeStamp": timestamps,
        "campaignId": campaign_ids,
        "ChannelID": json_values,
        "Extra": json_values,
    },
)
customers = mostly_from(
    st.sampled_from([*AUDIENCE, SCRUBBED_CUSTOMER, "stranger"]), awkward_ids | json_values
)
gateway_calls = st.fixed_dictionaries(
    {
        "user": mostly_from(
            st.fixed_dictionaries({"user_id": customers}, optional={"is_visitor": json_values}), json_values
        ),
        "campaign": mostly_from(
            st.fixed_dictionaries(
                {"id": campaign_ids},
                optional={
                    "series_id": json_values,
                    "action": st.fixed_dictionaries(
                        {},
                        optional={
                            "promo_codes": st.lists(json_scalars | json_values, max_size=3) | json_values
                        },
                    )
                    | json_values,
                },
            ),
            json_values,
        ),
    }
)
claim_bodies = st.fixed_dictionaries(
    {"campaign_id": campaign_ids, "customer_id": mostly_from(customers, st.text(max_size=140))},
    optional={
        "session_properties": st.dictionaries(st.text(max_size=70), json_values, max_size=55) | json_values,
        "status": json_values,
    },
)
tokens = mostly(
    TOKEN, st.sampled_from([TOKEN.upper(), TOKEN + "x", "", "%2F" + TOKEN]) | st.text(max_size=30)
)
segments = st.text(max_size=80).map(lambda text: quote(text, safe="")) | st.sampled_from(
    ["%00", "%2F", "..", "%2e%2e", "x" * 5_000, "%E2%80%A8", "%C0%AF", "%ZZ", ""]
)


def _optional_headers(**values: str | None) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in values.items() if value is not None}


def _with_authorization(target: HostileTarget, authorization: str, headers: dict[str, str]) -> dict[str, str]:
    if authorization == "valid":
        return {**headers, **target.auth}
    if authorization == "none":
        return headers
    return {**headers, "Authorization": authorization}


def _post(
    target: HostileTarget, path: str, body: bytes, content_type: str | None, headers: dict[str, str]
) -> Observed:
    response = target.app.test_client().post(
        LOCAL + path, data=body, content_type=content_type, headers=headers
    )
    return Observed("POST", path, response.status_code, response.headers, response.get_data())


# --- properties -------------------------------------------------------------------------------


@FUZZ
@given(
    token=tokens,
    body=bodies(listener_events),
    content_type=content_types,
    signature=optional_headers,
    request_id=optional_headers,
)
@example(token=TOKEN, body=DEEP_EVENT, content_type=JSON, signature=None, request_id=None)
@example(
    token=TOKEN, body=_event_with_campaign_id(str(2**63)), content_type=JSON, signature=None, request_id=None
)
@example(
    token=TOKEN, body=_event_with_campaign_id(str(2**70)), content_type=JSON, signature=None, request_id=None
)
@example(
    token=TOKEN, body=_event_with_campaign_id("1e20"), content_type=JSON, signature=None, request_id=None
)
def test_the_listener_answers_anything_without_a_5xx_and_a_refusal_writes_nothing(
    target: HostileTarget,
    token: str,
    body: bytes,
    content_type: str | None,
    signature: str | None,
    request_id: str | None,
) -> None:
    headers = _optional_headers(X_Optimove_Signature=signature, X_Request_ID=request_id)
    path = f"/webhooks/optimove/{quote(token, safe='%')}"
    target.observe("hypothesis listener", lambda: _post(target, path, body, content_type, headers))


@FUZZ
@given(token=tokens, body=bodies(gateway_calls), content_type=content_types)
@example(token=TOKEN, body=DEEP_CALL, content_type=JSON)
@example(token=TOKEN, body=BIG_ID_CALL, content_type=JSON)
def test_the_gateway_answers_anything_without_a_5xx_and_refuses_on_every_error(
    target: HostileTarget, token: str, body: bytes, content_type: str | None
) -> None:
    path = f"/webhooks/optimove/triggered/{quote(token, safe='%')}"
    answer = target.observe("hypothesis gateway", lambda: _post(target, path, body, content_type, {}))
    if answer.status == 200:
        assert set(json.loads(answer.body)) == {"user_id", "allowed"}


@FUZZ
@given(
    body=bodies(claim_bodies),
    content_type=content_types,
    authorization=authorizations,
    idempotency_key=st.none() | st.sampled_from(["k-1", "k-2"]) | header_text,
    request_id=optional_headers,
)
@example(body=DEEP_CLAIM, content_type=JSON, authorization="valid", idempotency_key=None, request_id=None)
@example(body=NAN_CLAIM, content_type=JSON, authorization="valid", idempotency_key=None, request_id=None)
def test_claim_submission_answers_anything_without_a_5xx_and_a_refusal_writes_nothing(
    target: HostileTarget,
    body: bytes,
    content_type: str | None,
    authorization: str,
    idempotency_key: str | None,
    request_id: str | None,
) -> None:
    headers = _optional_headers(Idempotency_Key=idempotency_key, X_Request_ID=request_id)
    headers = _with_authorization(target, authorization, headers)
    target.observe("hypothesis claims", lambda: _post(target, "/v1/claims", body, content_type, headers))


@FUZZ
@given(
    resource=st.sampled_from(["claims", "campaigns"]),
    known=st.booleans(),
    segment=segments,
    wait=st.none()
    | st.sampled_from(["0", "0.01", "0.05", "0.06", "-1", "nan", "inf", "-0", "1e308", "1_0", ""])
    | header_text,
    authorization=authorizations,
)
@example(resource="claims", known=False, segment="%00", wait=None, authorization="valid")
@example(resource="campaigns", known=False, segment=str(2**64), wait=None, authorization="valid")
def test_reading_claims_and_campaigns_answers_anything_without_a_5xx(
    target: HostileTarget, resource: str, known: bool, segment: str, wait: str | None, authorization: str
) -> None:
    if known:  # an existing claim (pending or rejected) or the seeded campaign
        segment = str(CLAIM_CAMPAIGN_ID) if resource == "campaigns" else target.claim_ids[len(segment) % 2]
    path = f"/v1/{resource}/{segment}"
    query = {} if wait is None else {"wait": wait}
    headers = _with_authorization(target, authorization, {})

    def send() -> Observed:
        response = target.app.test_client().get(LOCAL + path, query_string=query, headers=headers)
        return Observed("GET", path, response.status_code, response.headers, response.get_data())

    target.observe("hypothesis reads", send)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]),
    prefix=st.sampled_from(
        [
            "/v1/claims",
            "/v1/campaigns",
            "/webhooks/optimove",
            "/webhooks/optimove/triggered",
            f"/webhooks/optimove/{TOKEN}",
            f"/webhooks/optimove/triggered/{TOKEN}",
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/docs",
            "",
            "//webhooks//optimove",
            "/webhooks%2Foptimove%2Ftriggered",
        ]
    ),
    suffix=st.none() | segments,
    headers=st.dictionaries(
        st.sampled_from(
            ["X-Request-ID", "Accept", "Idempotency-Key", "Authorization", "Content-Type", "X-Other"]
        ),
        header_text,
        max_size=3,
    ),
    body=st.none() | st.binary(max_size=60) | hostile_bodies,
)
def test_any_method_on_any_path_with_any_headers_answers_without_a_5xx(
    target: HostileTarget,
    method: str,
    prefix: str,
    suffix: str | None,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    path = (prefix if suffix is None else f"{prefix}/{suffix}") or "/"

    def send() -> Observed:
        response = target.app.test_client().open(LOCAL + path, method=method, headers=headers, data=body)
        return Observed(method, path, response.status_code, response.headers, response.get_data())

    target.observe("hypothesis any request", send)
