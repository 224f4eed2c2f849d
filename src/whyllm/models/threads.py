"""How many CPU threads torch may use.

``$WHYLLM_THREADS`` wins; under CI (``$CI`` set) the default is 1; otherwise the cores not already
busy (one-minute load average), at least 1, so that a shared machine is not oversubscribed.
"""

from __future__ import annotations

import math
import os

from whyllm.errors import InputError


def check_threads(n: object, what: str = "threads") -> int:
    """A thread count as an int of at least 1, or an error that names it."""
    try:
        value = int(str(n))
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{what} must be a whole number of at least 1, got {n!r}")
    return value


def default_threads() -> int:
    if os.environ.get("WHYLLM_THREADS"):
        return check_threads(os.environ["WHYLLM_THREADS"], "$WHYLLM_THREADS")
    if os.environ.get("CI"):
        return 1
    cores = os.cpu_count() or 1
    try:
        busy = math.floor(os.getloadavg()[0] + 0.5)
    except OSError:
        busy = 0
    return max(1, cores - busy)


def configure_threads(n: int | None = None) -> int:
    import torch

    n = default_threads() if n is None else check_threads(n)
    torch.set_num_threads(n)
    return n
