"""R18: the spot-check draw is a reproducible 20% sample; the owner never re-checks their own case."""

from __future__ import annotations

import pytest

from portal.domain import spot_checks
from portal.domain.permissions import Actor, TicketFacts


@pytest.mark.parametrize(
    ("population", "percent", "size"),
    [(0, 20, 0), (1, 20, 1), (3, 20, 1), (5, 20, 1), (6, 20, 2), (100, 20, 20), (101, 20, 21), (7, 100, 7)],
)
def test_sample_size_rounds_up(population: int, percent: int, size: int) -> None:
    assert spot_checks.sample_size(population, percent) == size


def test_the_same_seed_draws_the_same_sample_whatever_order_the_population_comes_in() -> None:
    population = list(range(1, 501))
    first = spot_checks.draw(population, 20, "2026-Q3-seed")
    again = spot_checks.draw(list(reversed(population)), 20, "2026-Q3-seed")
    assert first == again
    assert len(first) == 100 and len(set(first)) == 100 and set(first) <= set(population)


def test_the_draw_is_stable_across_runs_and_machines() -> None:
    """Pinned: random.Random(str) seeds from a SHA-512 of the string, not the salted hash()."""
    assert spot_checks.draw(range(1, 21), 20, "audit") == spot_checks.draw(range(1, 21), 20, "audit")
    assert spot_checks.draw(range(1, 21), 20, "audit") != spot_checks.draw(range(1, 21), 20, "other")


def test_the_population_digest_ignores_order_and_duplicates_but_not_membership() -> None:
    assert spot_checks.population_digest([3, 1, 2, 2]) == spot_checks.population_digest([1, 2, 3])
    assert spot_checks.population_digest([1, 2, 3]) != spot_checks.population_digest([1, 2, 4])


TICKET = TicketFacts(status="closed", department_id=1, owner_id=10, concerns_user_id=30)


@pytest.mark.parametrize(
    ("reviewer", "allowed"),
    [
        pytest.param(Actor(20, "manager", 2), True, id="a-manager"),
        pytest.param(Actor(21, "lead", 1), True, id="the-lead-of-its-department"),
        pytest.param(Actor(22, "lead", 2), False, id="a-lead-of-another-department-cannot-see-it"),
        pytest.param(Actor(10, "lead", 1), False, id="its-owner-never-checks-their-own-work"),
        pytest.param(Actor(30, "manager", 1), False, id="R10-the-person-it-is-about"),
        pytest.param(Actor(23, "responder", 1), False, id="a-responder"),
        pytest.param(Actor(24, "admin", 1), False, id="an-administrator"),
    ],
)
def test_who_may_review(reviewer: Actor, allowed: bool) -> None:
    assert spot_checks.can_review(reviewer, TICKET) is allowed
