"""Routes are tried by priority; equal priorities share traffic by weight."""
import random
from collections import Counter

from providers.routing import order
from providers.types import Target


def target(name: str, priority: int, weight: int) -> Target:
    return Target(name, "openai", "http://x", "", 1.0, "m", "chat", priority=priority, weight=weight)


def test_lower_priority_always_comes_first():
    targets = (target("late", 5, 100), target("early", 1, 1))
    assert [t.provider for t in order(targets, random.Random(1))] == ["early", "late"]


def test_equal_priorities_share_first_place_by_weight():
    targets = (target("heavy", 0, 3), target("light", 0, 1), target("backup", 1, 1))
    rng = random.Random(42)
    firsts = Counter(order(targets, rng)[0].provider for _ in range(4000))
    assert firsts["backup"] == 0
    assert 0.70 < firsts["heavy"] / 4000 < 0.80


def test_every_route_is_in_the_order_once():
    targets = tuple(target(f"p{i}", i % 2, i + 1) for i in range(5))
    assert sorted(t.provider for t in order(targets)) == [f"p{i}" for i in range(5)]
