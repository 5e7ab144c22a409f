"""Streaming statistics equal numpy's on the joined chunks: quantiles bit for bit, moments to rounding."""

import numpy as np
import pytest
from jepa_core.running_stats import moments, percentiles, quantiles

DRAWS = {
    "normal": lambda rng, shape: rng.normal(size=shape),
    "ties": lambda rng, shape: rng.integers(0, 4, size=shape).astype(float),
    "heavy tails": lambda rng, shape: rng.standard_cauchy(size=shape),
}


@pytest.mark.parametrize("draw", list(DRAWS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_quantiles_are_numpys_bit_for_bit(draw, dtype):
    rng = np.random.default_rng(len(draw))
    chunks = [DRAWS[draw](rng, (3, int(n))).astype(dtype) for n in rng.integers(0, 900, 12)]
    joined = np.concatenate(chunks, axis=1)
    passes = []

    def source():
        passes.append(1)
        return iter(chunks)

    for budget in (40, 1 << 22):  # a small budget forces histogram refinements, a large one keeps the values
        for q in (0.999, 0.0, 1.0, [0.25, 0.5, 0.75]):
            got, want = quantiles(source, q, budget=budget), np.quantile(joined, q, axis=-1)
            assert got.dtype == want.dtype and np.array_equal(got, want), (q, budget)
        got, want = percentiles(source, 99.0, budget=budget), np.percentile(joined, 99.0, axis=-1)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    one_row = [c[0] for c in chunks]
    assert percentiles(lambda: iter(one_row), [25, 50]).tolist() == np.percentile(joined[0], [25, 50]).tolist()
    assert len(passes) < 80  # a handful of passes per call, not one per value


def test_moments_match_numpy_and_reject_no_data():
    rng = np.random.default_rng(1)
    chunks = [rng.normal(3.0, 5.0, size=(4, int(n))) for n in rng.integers(1, 4000, 20)]
    joined = np.concatenate(chunks, axis=1)
    stats = moments(lambda: iter(chunks))
    assert stats.count == joined.shape[1]
    np.testing.assert_allclose(stats.mean, joined.mean(1), rtol=1e-13)
    np.testing.assert_allclose(stats.std, joined.std(1), rtol=1e-13)
    assert np.array_equal(stats.low, joined.min(1)) and np.array_equal(stats.high, joined.max(1))
    with pytest.raises(ValueError, match="no values"):
        moments(lambda: iter([]))
    with pytest.raises(ValueError, match="finite"):
        quantiles(lambda: iter([np.array([1.0, np.nan])]), 0.5)
