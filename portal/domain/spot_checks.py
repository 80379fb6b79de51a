"""Spot checks (R18): which resolved complaints are drawn for re-checking, and who may re-check.

The draw is reproducible: the same population, percentage and recorded seed always give the same
sample, on any machine and Python version (`random.Random` seeded with a string is stable), so a
quality auditor can repeat it. Imports nothing from Flask or SQLAlchemy.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable

from portal.domain.permissions import ActorLike, Role, TicketLike, can_view


def sample_size(population: int, percent: int) -> int:
    """Round up, so a small quarter is still checked: 20% of 3 cases is 1 case, not 0."""
    if not 1 <= percent <= 100:
        raise ValueError("percent is 1 to 100")
    return (population * percent + 99) // 100


def draw(population: Iterable[int], percent: int, seed: str) -> list[int]:
    """Return the sampled ticket ids, sorted; the order the population arrives in does not matter."""
    ids = sorted(set(population))
    chosen = random.Random(seed).sample(ids, sample_size(len(ids), percent))  # noqa: S311 — not a secret
    return sorted(chosen)


def population_digest(population: Iterable[int]) -> str:
    """A fingerprint of the population, kept with the draw: a re-draw proves it saw the same set."""
    ids = ",".join(str(i) for i in sorted(set(population)))
    return hashlib.sha256(ids.encode()).hexdigest()


def can_review(reviewer: ActorLike, ticket: TicketLike) -> bool:
    """A re-check is done by the head of service or a lead above the case, never its own owner.

    The reviewer must be able to see the case (R20) — which also keeps the person it is about
    away from it (R10) — and must not be the one who handled it: a self-check checks nothing.
    """
    if reviewer.role not in (Role.MANAGER, Role.LEAD):
        return False
    return can_view(reviewer, ticket) and ticket.owner_id != reviewer.id
