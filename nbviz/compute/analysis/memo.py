"""Memo: the one cache of derived data, keyed by (model version, question), bounded by the bytes it holds."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .._arrays import nbytes

T = TypeVar("T")


class Memo:
    """A least-recently-used cache bounded by the bytes of the numpy arrays its values hold.

    A person going back and forth between samples and layers hits it; a large model (ResNet50 keeps about 100 MB
    of activations per sample) keeps few entries rather than exhausting memory. The newest entry always stays.
    Thread-safe: the SHAP tab computes in a worker thread while the widget goes on. Two threads asking the same
    new question may both compute it; the answer is the same.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, compute: Callable[[], T], keep: Callable[[], bool] | None = None) -> T:
        """The value stored under ``key``, computed (outside the lock) and stored when missing, unless
        ``keep()`` says that what it was computed from changed meanwhile (it is returned all the same)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key][0]  # type: ignore[no-any-return]
            self.misses += 1
        value = compute()
        if keep is None or keep():
            self.put(key, value)
        return value

    def peek(self, key: Hashable) -> Any:
        """The value under ``key`` if stored (it becomes the most recent), else None; computes nothing."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key][0]

    def put(self, key: Hashable, value: Any) -> None:
        size = nbytes(value)
        with self._lock:
            if key in self._entries:
                self.nbytes -= self._entries.pop(key)[1]
            self._entries[key] = (value, size)
            self.nbytes += size
            while self.nbytes > self.max_bytes and len(self._entries) > 1:
                _, (_, old) = self._entries.popitem(last=False)
                self.nbytes -= old

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` if stored (a partial result that a full one replaced)."""
        with self._lock:
            if key in self._entries:
                self.nbytes -= self._entries.pop(key)[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.nbytes = 0
