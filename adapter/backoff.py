"""The one backoff of the adapter: exponential, capped, with jitter.

Used for every wait before trying again: a DUO call that failed transiently
(the submitter's schedule, kept in the store), a lost broker connection, a
store that could not be written. Jitter spreads the retries of many workers and
replicas, so a recovering DUO or broker is not hit by all of them at once.
"""

from __future__ import annotations

import random

__all__ = ["backoff_delay"]

#: 2**30 × any sane base is far past every cap; bounding the exponent keeps floats finite.
_MAX_EXPONENT = 30


def backoff_delay(retry: int, *, base: float, cap: float,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (0 for the first retry).

    Uniform in ``[d/2, d]`` with ``d = min(cap, base · 2**retry)``: the ceiling
    doubles per retry up to ``cap`` and never falls below half of it ("equal
    jitter"). ``rng`` makes it repeatable in tests.
    """
    ceiling = min(cap, base * (2 ** min(max(retry, 0), _MAX_EXPONENT)))
    return (rng or random).uniform(ceiling / 2, ceiling)
