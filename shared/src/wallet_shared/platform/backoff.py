"""Retry delays: exponential, capped, with jitter so that many retrying clients spread out."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempt: int,
    *,
    base_s: float = 0.05,
    cap_s: float = 5.0,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry).

    The ceiling doubles with each attempt from `base_s` up to `cap_s`; the delay is drawn between
    half the ceiling and the ceiling ("equal jitter"), so it grows without ever being zero.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    # 2**attempt overflows float for absurd attempt counts; the cap is reached long before.
    ceiling = min(cap_s, base_s * 2 ** min(attempt - 1, 60))
    return uniform(ceiling / 2, ceiling)
