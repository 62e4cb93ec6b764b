"""API answers kept per data version, in the process: a repeated call costs one primary-key read.

The key is what an answer is a function of: the data version (`portal.indicators.freshness`, moved in the same
transaction as every change the figures depend on), the day in Skopje (the month decides timeliness, the day the
"current" status of an indicator), the path with its parameters in a normal order, and the language. An answer is
kept only when it was computed from that very version — a stale snapshot's answer, or one computed while the
data moved, is served but not kept — so a cached answer is always the answer the data would give now.

Bounded by entries and bytes, least recently used first out; each worker process has its own (a worker that has
not seen a call computes it once). Nothing here is personal: the API's answers are the same for every monitor."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from flask import Flask, current_app

MAX_ENTRIES = 512
MAX_BYTES = 64 * 1024 * 1024
KEY = "api_answer_cache"


class AnswerCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[Any, tuple[Any, str]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> tuple[Any, str] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, body: str | bytes, tag: str) -> None:
        size = len(body)
        if size > self.max_bytes // 4:
            return  # one answer may not push out everything else
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0])
            self._items[key] = (body, tag)
            self._bytes += size
            while self._items and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
                _key, (dropped, _tag) = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


def of(app: Flask | None = None, *, key: str = KEY, max_entries: int = MAX_ENTRIES,
       max_bytes: int = MAX_BYTES) -> AnswerCache:
    """The application's cache of that name (the API's answers by default; the indicator workbook has its own)."""
    app = app or current_app
    cache = app.extensions.get(key)
    if cache is None:
        cache = app.extensions.setdefault(key, AnswerCache(max_entries, max_bytes))
    return cache
