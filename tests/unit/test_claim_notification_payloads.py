"""NOTIFY payloads: every claim id carried, none split, each payload under PostgreSQL's limit."""

from __future__ import annotations

import uuid

from app.adapters.db.notifications import MAX_PAYLOAD_BYTES, payload_chunks


def test_many_claim_ids_are_split_into_payloads_under_the_limit_without_losing_one() -> None:
    ids = [str(uuid.uuid4()) for _ in range(1000)]
    chunks = payload_chunks(ids)
    assert len(chunks) > 1
    assert all(len(chunk.encode()) <= MAX_PAYLOAD_BYTES < 8000 for chunk in chunks)
    assert [part for chunk in chunks for part in chunk.split(",")] == ids


def test_a_few_ids_make_one_payload_and_none_make_none() -> None:
    assert payload_chunks(["a", "b", "c"]) == ["a,b,c"]
    assert payload_chunks([]) == []
