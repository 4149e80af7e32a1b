"""Series that grow while a model trains, and bounded pictures of them: what a redraw sends stays the same size.

Three pieces, all numpy:

* :class:`Growable`: an append-only array (amortised doubling); ``values`` is a read-only view of the filled
  rows, so reading the whole series costs nothing and later appends never change a view already handed out;
* :class:`MinMaxLine`: at most ``budget`` points of a line over a growing series: consecutive points are
  grouped in buckets of ``width`` points and each bucket keeps its minimum and its maximum (in step order), so
  a spike is never lost; the points drawn are points of the series, at their true x;
* :class:`ColumnBlocks`: at most ``max_columns`` columns of a growing (records x k) matrix, each the mean of a
  block of ``width`` consecutive records, for heatmaps over records.

Both reductions are incremental: a bucket or block, once full, is reduced once; when there are too many, pairs
are merged and the width doubles. An update reads only the rows added since the last one and the bounded state,
so its cost does not grow with the length of the run (a first update over a long series reads it once).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["ColumnBlocks", "Growable", "MinMaxLine"]


class Growable:
    """An append-only array of rows of one shape, in a buffer that doubles when full.

    Parameters
    ----------
    row_shape : tuple of int
        The shape of one row (``()`` for a series of scalars).
    dtype : numpy dtype
    capacity : int
        Rows allocated at first.
    """

    def __init__(self, row_shape: tuple[int, ...] = (), dtype: type | np.dtype = np.float64, capacity: int = 64):
        self._data = np.empty((max(int(capacity), 1), *row_shape), dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, row: object) -> None:
        """Add one row (cast to the buffer's dtype)."""
        if self._n == len(self._data):
            grown = np.empty((2 * len(self._data), *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self._n] = self._data
            self._data = grown
        self._data[self._n] = row
        self._n += 1

    @property
    def values(self) -> np.ndarray:
        """The filled rows, shape (n, *row_shape): a read-only view (no copy).

        Appends write past the view's end and a full buffer is replaced, never overwritten, so a view keeps
        showing the rows it was taken with.
        """
        view = self._data[: self._n]
        view.flags.writeable = False
        return view


def _min_key(y: np.ndarray) -> np.ndarray:
    """NaN loses every comparison for the minimum (so a bucket of numbers and NaN keeps its numbers)."""
    return np.where(np.isnan(y), np.inf, y)


def _max_key(y: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(y), -np.inf, y)


class MinMaxLine:
    """The points to draw of a growing 1-D series: at most ``budget``, keeping each bucket's min and max.

    Up to ``budget`` points the line is the series itself. Beyond, buckets of ``width`` consecutive points
    (``width`` a power of two) each give their minimum and their maximum point, in order; the points since the
    last full bucket give theirs too. NaN values are passed over unless a bucket holds nothing else (it then
    shows as NaN: a gap, so a diverged loss stays visible).

    Parameters
    ----------
    budget : int
        Most points returned (at least 4).
    """

    def __init__(self, budget: int = 2000) -> None:
        if budget < 4:
            raise ValueError(f"budget: expected an int >= 4 (points per line), got {budget!r}")
        self.budget = int(budget)
        self.reset()

    def reset(self) -> None:
        self.width = 1
        self._lo = np.zeros(0, dtype=np.int64)  # per full bucket: index of its minimum
        self._hi = np.zeros(0, dtype=np.int64)  # and of its maximum
        self._done = 0  # points covered by full buckets (always len(self._lo) * self.width)

    def _too_many(self, buckets: int) -> bool:
        # A bucket draws min(width, 2) points; beyond width 1, the points after the last full bucket draw 2 more.
        return buckets * min(self.width, 2) + (2 if self.width > 1 else 0) > self.budget

    def _merge(self, y: np.ndarray) -> None:
        """Pairs of buckets become one of twice the width (an odd last bucket goes back to the tail)."""
        pairs = len(self._lo) // 2
        a, b = slice(0, 2 * pairs, 2), slice(1, 2 * pairs, 2)
        lo_a, lo_b, hi_a, hi_b = self._lo[a], self._lo[b], self._hi[a], self._hi[b]
        self._lo = np.where(_min_key(y[lo_b]) < _min_key(y[lo_a]), lo_b, lo_a)
        self._hi = np.where(_max_key(y[hi_b]) > _max_key(y[hi_a]), hi_b, hi_a)
        self.width *= 2
        self._done = pairs * self.width

    def update(self, y: np.ndarray) -> None:
        """Take in the points of ``y`` (the whole series so far) added since the last update."""
        n = len(y)
        if n < self._done:  # the series was cleared: start again
            self.reset()
        while self._too_many(len(self._lo) + (n - self._done) // self.width):
            self._merge(y)
        full = (n - self._done) // self.width
        if full:
            start = self._done
            segment = y[start : start + full * self.width].reshape(full, self.width)
            offsets = start + self.width * np.arange(full)
            self._lo = np.concatenate([self._lo, offsets + np.argmin(_min_key(segment), axis=1)])
            self._hi = np.concatenate([self._hi, offsets + np.argmax(_max_key(segment), axis=1)])
            self._done += full * self.width

    def indices(self, y: np.ndarray) -> np.ndarray:
        """Update, then the sorted indices into ``y`` of the points to draw (at most ``budget``)."""
        self.update(y)
        pairs = [np.minimum(self._lo, self._hi), np.maximum(self._lo, self._hi)]
        index = np.stack(pairs, axis=1).ravel()
        if self._done < len(y):
            tail = y[self._done :]
            ends = sorted({int(np.argmin(_min_key(tail))), int(np.argmax(_max_key(tail)))})
            index = np.concatenate([index, self._done + np.asarray(ends, dtype=np.int64)])
        if index.size:
            index = index[np.concatenate([[True], index[1:] != index[:-1]])]  # a bucket of one value: once
        return index

    def points(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(x[i], y[i])`` for the points to draw (``x`` and ``y`` the whole series, same length)."""
        index = self.indices(y)
        return x[index], y[index]


class ColumnBlocks:
    """At most ``max_columns`` columns over a growing (records x k) matrix, each the mean of ``width`` records.

    Up to ``max_columns`` records, one column per record (the values themselves). Beyond, consecutive records
    are averaged in blocks of ``width`` (a power of two); the records since the last full block make the last
    column. NaN values are left out of a mean (a column of NaN only is NaN).

    Parameters
    ----------
    max_columns : int
        Most columns returned.
    transform : callable, optional
        Applied once to each new block of rows before it is averaged (e.g. a log, so that the mean is a mean
        of logs); it must work elementwise.
    """

    def __init__(self, max_columns: int = 200, transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        if max_columns < 1:
            raise ValueError(f"max_columns: expected a positive int, got {max_columns!r}")
        self.max_columns = int(max_columns)
        self.transform = transform
        self.reset()

    def reset(self) -> None:
        self.width = 1
        self._sums: np.ndarray | None = None  # per full block and column of the input: sum of finite values
        self._counts: np.ndarray | None = None  # and how many there were
        self._done = 0

    def _blocks(self) -> int:
        return 0 if self._sums is None else len(self._sums)

    def _merge(self) -> None:
        pairs = self._blocks() // 2
        if self._sums is not None and self._counts is not None:
            k = self._sums.shape[1]
            self._sums = self._sums[: 2 * pairs].reshape(pairs, 2, k).sum(axis=1)
            self._counts = self._counts[: 2 * pairs].reshape(pairs, 2, k).sum(axis=1)
        self.width *= 2
        self._done = pairs * self.width

    def _reduce(self, rows: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(rows, dtype=np.float64)
        if self.transform is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = self.transform(values)
        # Sized in full: with no column (k = 0) a -1 could not be inferred.
        values = values.reshape(blocks, len(values) // blocks, values.shape[-1])
        finite = np.isfinite(values)
        return np.where(finite, values, 0.0).sum(axis=1), finite.sum(axis=1)

    def update(self, rows: np.ndarray) -> None:
        """Take in the rows of ``rows`` (the whole matrix so far, shape (n, k)) added since the last update."""
        n = len(rows)
        if n < self._done:
            self.reset()
        while self._blocks() + -(-(n - self._done) // self.width) > self.max_columns:  # full blocks + the tail
            self._merge()
        full = (n - self._done) // self.width
        if full:
            sums, counts = self._reduce(rows[self._done : self._done + full * self.width], full)
            if self._sums is None or self._counts is None:
                self._sums, self._counts = sums, counts
            else:
                self._sums = np.concatenate([self._sums, sums])
                self._counts = np.concatenate([self._counts, counts])
            self._done += full * self.width

    def picture(self, rows: np.ndarray) -> np.ndarray:
        """Update, then the column means, shape (k, columns): one row per column of ``rows``."""
        self.update(rows)
        k = rows.shape[1] if rows.ndim == 2 else 0
        sums = np.zeros((0, k)) if self._sums is None else self._sums
        counts = np.zeros((0, k)) if self._counts is None else self._counts
        if self._done < len(rows):
            tail_sums, tail_counts = self._reduce(rows[self._done :], 1)
            sums, counts = np.concatenate([sums, tail_sums]), np.concatenate([counts, tail_counts])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return means.T
