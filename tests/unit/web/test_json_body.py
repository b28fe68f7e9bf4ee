"""The one JSON decoder of the web: a hostile body is refused before anything reads it."""

from __future__ import annotations

import pytest

from app.web.json_body import MAX_JSON_DEPTH, InvalidJsonBody, decode_json_object, nesting_depth


def _nested(levels: int) -> bytes:
    return b'{"a": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def test_a_plain_object_is_decoded() -> None:
    body = b'{"user": {"user_id": "c-1"}, "n": 1.5, "codes": ["A", null], "ok": true}'
    expected = {"user": {"user_id": "c-1"}, "n": 1.5, "codes": ["A", None], "ok": True}
    assert decode_json_object(body) == expected


def test_nesting_up_to_the_bound_is_accepted_and_one_level_more_is_not() -> None:
    assert decode_json_object(_nested(MAX_JSON_DEPTH))
    with pytest.raises(InvalidJsonBody, match="nested deeper than 32"):
        decode_json_object(_nested(MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize("levels", [1_000, 10_000, 100_000])
def test_nesting_deep_enough_to_exhaust_recursion_is_refused_not_raised(levels: int) -> None:
    with pytest.raises(InvalidJsonBody, match="nested deeper"):
        decode_json_object(b"[" * levels + b"]" * levels)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"a": "[[[[{{{{\\"[[[[", "b": "]]]]"}'
    assert nesting_depth(text) == 1
    assert decode_json_object(text.encode())["a"] == '[[[[{{{{"[[[['


def test_an_unterminated_string_full_of_escaped_quotes_is_refused() -> None:
    with pytest.raises(InvalidJsonBody, match="not valid JSON"):
        decode_json_object(b'{"a": "' + b'\\"' * 30_000)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"a string"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": Infinity}', "Infinity is not a JSON number"),
        (b'{"a": [-Infinity]}', "-Infinity is not a JSON number"),
        (b'{"a": 1e400}', "out of range"),
        (b'{"a": -1e400}', "out of range"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "not valid JSON"),
        (b'{"a": 1, "a": 1}', "'a' appears more than once"),
        (b'{"o": {"k": 1, "k": 2}}', "'k' appears more than once"),
        (b'{"a": "\\ud800"}', "unpaired UTF-16 surrogate"),
        (b'{"\\udfff": 1}', "unpaired UTF-16 surrogate"),
    ],
)
def test_a_hostile_body_is_refused_saying_why(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidJsonBody, match=reason.replace("(", r"\(")):
        decode_json_object(body)


def test_a_paired_surrogate_escape_is_a_character_like_any_other() -> None:
    assert decode_json_object(b'{"emoji": "\\ud83d\\ude00"}') == {"emoji": "\U0001f600"}


def test_keys_differing_only_in_case_are_not_duplicates_here() -> None:
    # Case-insensitive field matching is the Optimove contract's business, not the decoder's.
    assert decode_json_object(b'{"CampaignID": 1, "campaignId": 1}') == {"CampaignID": 1, "campaignId": 1}


def test_a_repeated_key_is_quoted_shortened_in_the_message() -> None:
    key = "k" * 1000
    with pytest.raises(InvalidJsonBody) as caught:
        decode_json_object(f'{{"{key}": 1, "{key}": 2}}'.encode())
    assert len(str(caught.value)) < 120
