"""A bounded, thread-safe LRU of parsed artifacts, keyed by content (sha256).

A baseline's per-query table and latency log are parsed once and reused for every candidate
paired with it; the key is the file's verified digest, so a hit can never be stale.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

__all__ = ["ParsedCache"]

T = TypeVar("T")


class ParsedCache:
    """At most ``max_entries`` parsed files, least recently used evicted first."""

    def __init__(self, max_entries: int = 32) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries}")
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, str], object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_parse(self, kind: str, sha256: str, parse: Callable[[], T]) -> T:
        """The cached value of ``(kind, sha256)``, or ``parse()``'s result, stored."""
        key = (kind, sha256)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]  # type: ignore[return-value]
            self.misses += 1
        value = parse()  # outside the lock: parsing may take a while; a racing parse just stores the same value
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)
