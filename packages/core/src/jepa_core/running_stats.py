"""Statistics of data that is not held in memory: per-row moments and exact quantiles over passes of chunks.

A *source* starts a new pass over the data each time it is called: it returns an iterable of chunks, each a
(rows, n_i) array (or (n_i,) for one row), and the statistics are those of the chunks joined along their last axis.
`moments` takes one pass. `quantiles` returns exactly what `np.quantile(joined, q, axis=-1)` (linear method)
returns, in a few passes (a histogram pass narrows each sought rank to a bin, the next one keeps only that bin's
values), holding at most about `budget` values, whatever the data's size. Values must be finite.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

Source = Callable[[], Iterable[np.ndarray]]
BINS = 1024
BUDGET = 1 << 22  # values kept at once by `quantiles` (32 MiB of float64)
MAX_LEVELS = 8  # histogram refinements before a bin's values are kept whatever their number


@dataclass(frozen=True)
class Moments:
    """Per row: `count` values, their `mean`, population variance `var`, `low` (min) and `high` (max)."""

    count: int
    mean: np.ndarray
    var: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)


def _rows(chunk) -> np.ndarray:
    chunk = np.asarray(chunk)
    return chunk[None] if chunk.ndim == 1 else chunk


def moments(source: Source) -> Moments:
    """Count, mean, variance (Chan et al.'s pairwise update of per-chunk moments), min and max per row."""
    count, mean, m2, low, high = 0, None, None, None, None
    for chunk in source():
        x = _rows(chunk).astype(np.float64, copy=False)
        n = x.shape[1]
        if n == 0:
            continue
        chunk_mean = x.mean(axis=1)
        chunk_m2 = np.square(x - chunk_mean[:, None]).sum(axis=1)
        if mean is None:
            count, mean, m2, low, high = n, chunk_mean, chunk_m2, x.min(axis=1), x.max(axis=1)
            continue
        total, delta = count + n, chunk_mean - mean
        mean = mean + delta * (n / total)
        m2 = m2 + chunk_m2 + np.square(delta) * (count * n / total)
        count, low, high = total, np.minimum(low, x.min(axis=1)), np.maximum(high, x.max(axis=1))
    if mean is None:
        raise ValueError("no values to compute statistics of")
    return Moments(count, mean, m2 / count, low, high)


class _Rank:
    """The search for the value of one rank (0-based, in sorted order) in every row."""

    def __init__(self, rank: int, count: int, low: np.ndarray, high: np.ndarray):
        self.rank, self.rows = rank, len(low)
        self.levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (lo, scale, bin); bin -1: no constraint
        self.lo, self.scale = low, BINS / np.where(high > low, high - low, 1.0)
        self.below = np.zeros(self.rows, np.int64)  # values sorted before the current bin
        self.size = np.full(self.rows, count, np.int64)  # values in the current bin
        self.value = low.copy()
        self.done = high == low  # a row of equal values
        self.collect = np.zeros(self.rows, bool)

    def key(self) -> tuple:
        state = [self.lo, self.scale, self.done, self.collect] + [a for level in self.levels for a in level]
        return tuple(a.tobytes() for a in state)

    def members(self, x: np.ndarray, bins: Callable) -> np.ndarray:
        keep = ~self.done[:, None] & np.ones(x.shape, bool)
        for lo, scale, chosen in self.levels:
            keep &= (bins(lo, scale) == chosen[:, None]) | (chosen[:, None] < 0)
        return keep


def _bins(x: np.ndarray, lo: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Histogram bin of every value: monotone in the value, so a bin is an interval of values."""
    return np.clip(np.floor((x - lo[:, None]) * scale[:, None]), 0, BINS - 1).astype(np.int64)


def _pass(source: Source, ranks: list[_Rank]) -> tuple[list, list, list, list]:
    """One pass: for each rank, the histogram, min and max of its current bin's values, or the values kept."""
    keys = [r.key() for r in ranks]
    unique = list(dict.fromkeys(keys))  # ranks in the same state (e.g. all at the start) share one histogram
    lead = {key: ranks[keys.index(key)] for key in unique}
    counts = {key: np.zeros((r.rows, BINS), np.int64) for key, r in lead.items()}
    lows = {key: np.full(r.rows, np.inf) for key, r in lead.items()}
    highs = {key: np.full(r.rows, -np.inf) for key, r in lead.items()}
    kept: dict = {key: [] for key in unique}
    for chunk in source():
        x = _rows(chunk)
        if x.shape[1] == 0:
            continue
        cache = {}

        def bins(lo: np.ndarray, scale: np.ndarray, x=x, cache=cache) -> np.ndarray:  # ranks share their bins
            key = (lo.tobytes(), scale.tobytes())
            if key not in cache:
                cache[key] = _bins(x, lo, scale)
            return cache[key]

        for key, rank in lead.items():
            members = rank.members(x, bins)
            histogram = members & ~rank.collect[:, None]
            if histogram.any():
                where = np.nonzero(histogram)
                index = where[0] * BINS + bins(rank.lo, rank.scale)[where]
                counts[key] += np.bincount(index, minlength=rank.rows * BINS).reshape(rank.rows, BINS)
                lows[key] = np.minimum(lows[key], np.where(histogram, x, np.inf).min(axis=1))
                highs[key] = np.maximum(highs[key], np.where(histogram, x, -np.inf).max(axis=1))
            collect = members & rank.collect[:, None]
            if collect.any():
                row, column = np.nonzero(collect)
                kept[key].append((row, x[row, column]))
    return [counts[k] for k in keys], [lows[k] for k in keys], [highs[k] for k in keys], [kept[k] for k in keys]


def _settle(rank: _Rank, counts: np.ndarray, lows: np.ndarray, highs: np.ndarray, kept: list) -> None:
    """Resolve the rows whose values were kept, narrow the others to the bin holding the rank."""
    if kept:
        row = np.concatenate([k[0] for k in kept])
        values = np.concatenate([k[1] for k in kept])
        order = np.lexsort((values, row))
        row, values = row[order], values[order]
        for r in np.flatnonzero(rank.collect & ~rank.done):
            rank.value[r] = values[np.searchsorted(row, r) + rank.rank - rank.below[r]]
    rank.done |= rank.collect
    same = ~rank.done & (lows == highs)  # every value of the bin is one value
    rank.value[same], rank.done = lows[same], rank.done | same
    open_rows = ~rank.done
    cumulative = counts.cumsum(axis=1)
    chosen = (cumulative <= (rank.rank - rank.below)[:, None]).sum(axis=1)
    before = np.where(chosen > 0, np.take_along_axis(cumulative, np.maximum(chosen - 1, 0)[:, None], 1)[:, 0], 0)
    rank.levels.append((rank.lo, rank.scale, np.where(open_rows, chosen, -1)))
    rank.below = np.where(open_rows, rank.below + before, rank.below)
    rank.size = np.where(open_rows, counts[np.arange(rank.rows), np.minimum(chosen, BINS - 1)], 0)
    rank.lo, rank.scale = rank.lo + chosen / rank.scale, rank.scale * BINS


def quantiles(
    source: Source,
    q: float | Sequence[float],
    *,
    count: int | None = None,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    budget: int = BUDGET,
) -> np.ndarray:
    """`np.quantile(joined, q, axis=-1)` of the joined chunks, bit for bit (same dtype and shape), in passes.

    `count`, `low`, `high` (values per row, per-row min and max, e.g. from `moments`) save the first pass; `low`
    and `high` need only bound the values.
    """
    return _quantiles(source, np.asanyarray(q), type(q) in (int, float), count, low, high, budget)


def percentiles(
    source: Source,
    p: float | Sequence[float],
    *,
    count: int | None = None,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    budget: int = BUDGET,
) -> np.ndarray:
    """`np.percentile(joined, p, axis=-1)` of the joined chunks, bit for bit (see `quantiles`)."""
    return _quantiles(source, np.true_divide(p, 100), type(p) in (int, float), count, low, high, budget)


def _quantiles(source: Source, q_array: np.ndarray, weak: bool, count, low, high, budget: int) -> np.ndarray:
    first = next(iter(source()), None)
    if first is None:
        raise ValueError("no values to compute quantiles of")
    one_row, dtype = np.ndim(first) == 1, np.asarray(first).dtype
    if count is None or low is None or high is None:
        stats = moments(source)
        count, low, high = stats.count, stats.low, stats.high
    low, high = np.asarray(low, np.float64).reshape(-1), np.asarray(high, np.float64).reshape(-1)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError("quantiles need finite values")
    virtual = (count - 1) * q_array
    previous = np.where(virtual >= count - 1, count - 1, np.floor(virtual)).astype(np.int64)
    following = np.where(virtual >= count - 1, count - 1, previous + 1)
    gamma = np.atleast_1d(virtual - np.floor(virtual))
    sought = np.unique(np.concatenate([np.ravel(previous), np.ravel(following)]))
    ranks = {int(k): _Rank(int(k), count, low, high) for k in sought}
    searching = [r for r in ranks.values() if not r.done.all()]
    while searching:
        share = max(1, budget // sum(int((~r.done).sum()) for r in searching))
        for rank in searching:  # keep a bin's values when they fit the budget, else narrow it with a histogram
            rank.collect = ~rank.done & ((rank.size <= share) | (len(rank.levels) >= MAX_LEVELS))
        for rank, *found in zip(searching, *_pass(source, searching), strict=True):
            _settle(rank, *found)
        searching = [r for r in searching if not r.done.all()]
    values = []
    for i, (a, b) in enumerate(zip(np.ravel(previous), np.ravel(following), strict=True)):
        pair = np.stack([ranks[int(a)].value, ranks[int(b)].value]).astype(dtype)
        weight = float(gamma[i]) if weak else np.array([gamma[i]])
        result = np.quantile(pair, weight, axis=0)  # numpy's own interpolation between the two order statistics
        values.append(result if weak else result[0])
    result = np.stack(values).reshape(np.shape(q_array) + (len(low),))
    return result[..., 0] if one_row else result
