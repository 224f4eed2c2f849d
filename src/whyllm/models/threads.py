"""How many CPU threads torch may use.

``$WHYLLM_THREADS`` wins; under CI (``$CI`` set) the default is 1; otherwise the cores not already
busy (one-minute load average), at least 1, so that a shared machine is not oversubscribed.
"""

from __future__ import annotations

import math
import os


def default_threads() -> int:
    if os.environ.get("WHYLLM_THREADS"):
        return max(1, int(os.environ["WHYLLM_THREADS"]))
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

    n = default_threads() if n is None else max(1, int(n))
    torch.set_num_threads(n)
    return n
