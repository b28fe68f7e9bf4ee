"""Client keys proven valid are trusted for a few seconds, then read again."""

from __future__ import annotations

from app.domain.clients import ApiClient
from app.services.clients import KeyCache

CLIENT = ApiClient(1, "backend", "abc123", "hash", 600, False, frozenset({"claims"}))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_proven_valid_is_trusted_until_its_time_is_up() -> None:
    clock = Clock()
    cache = KeyCache(5.0, clock=clock)
    cache.put("fingerprint", CLIENT)
    clock.now += 4.9
    assert cache.get("fingerprint") == CLIENT
    clock.now += 0.2
    assert cache.get("fingerprint") is None  # read again: a revoked key is refused from here on


def test_an_unknown_key_is_not_in_the_cache() -> None:
    assert KeyCache(5.0).get("never-seen") is None


def test_the_oldest_key_goes_when_the_cache_is_full() -> None:
    cache = KeyCache(60.0, max_keys=2)
    for name in ("a", "b", "c"):
        cache.put(name, CLIENT)
    assert cache.get("a") is None and cache.get("b") == CLIENT and cache.get("c") == CLIENT
