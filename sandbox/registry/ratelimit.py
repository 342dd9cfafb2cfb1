"""Per-client token buckets behind the registry's 429 answers."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBuckets:
    """One bucket per client: refills at ``rate`` tokens/s up to ``burst``; each request takes one."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client_id: str) -> int:
        """Take a token; 0 if granted, else the whole seconds to wait (the Retry-After value)."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(client_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client_id] = (tokens - 1, now)
                return 0
            self._buckets[client_id] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
