"""The JEPA-SCORE out-of-distribution study: detectors on known cases, then the pipeline on tiny real domains."""

import json

import numpy as np
import pytest
import torch

from experiments.jepa_score import detectors, study
from experiments.jepa_score.setups import image_setup


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_auroc_orders_scores():
    assert detectors.auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert detectors.auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert detectors.auroc(np.array([0.0, 2.0]), np.array([1.0, 3.0])) == 0.75


def test_embedding_baselines_detect_an_unseen_subspace_and_not_a_resample():
    gen = torch.Generator().manual_seed(0)

    def on_dims(n, dims):
        x = 0.01 * torch.randn(n, 8, generator=gen)
        x[:, dims] += torch.randn(n, len(dims), generator=gen)
        return x

    reference, inside = on_dims(300, [0, 1]), on_dims(100, [0, 1])
    shifted = {"unseen": on_dims(100, [4, 5]), "same": on_dims(100, [0, 1])}
    for result in (
        detectors.mahalanobis(reference, inside, shifted),
        detectors.knn_distance(reference, inside, shifted),
    ):
        assert detectors.auroc(result.in_distribution, result.shifted["unseen"]) > 0.99
        assert 0.35 < detectors.auroc(result.in_distribution, result.shifted["same"]) < 0.65
        assert result.seconds >= 0
    with pytest.raises(ValueError, match="k must be"):
        detectors.knn_distance(reference, inside, shifted, k=0)


def test_negative_jepa_score_matches_closed_forms():
    x = torch.randn(6, 5, dtype=torch.float64)
    # tanh: J = diag(1 − tanh²(x)), so JEPA-SCORE = Σ_i log(1 − tanh²(x_i)) and large |x| looks unlikely
    result = detectors.negative_jepa_score(torch.tanh, x, {"far": 3 + x})
    np.testing.assert_allclose(result.in_distribution, -torch.log1p(-(torch.tanh(x) ** 2)).sum(1).numpy(), rtol=1e-8)
    assert detectors.auroc(result.in_distribution, result.shifted["far"]) == 1.0
    # a linear encoder has the same Jacobian everywhere: the score cannot tell anything apart
    weights = torch.randn(4, 5, dtype=torch.float64)
    linear = detectors.negative_jepa_score(lambda v: v @ weights.T, x, {"far": 3 + x})
    expected = -torch.linalg.svdvals(weights).log().sum().item()
    np.testing.assert_allclose(np.r_[linear.in_distribution, linear.shifted["far"]], expected, rtol=1e-8)


def test_image_setup_builds_processed_sets(tmp_path, one_thread):
    torch.set_num_threads(1)
    setup = image_setup(steps=1, count=4, output_dir=str(tmp_path), random_init=True)
    assert setup.in_distribution.shape == (4, 3, 32, 32)
    assert set(setup.shifted) == {"rotated 90°", "inverted", "pixel noise σ=80/255", "natural photo crops"}
    assert all(v.shape == (4, 3, 32, 32) for v in setup.shifted.values())
    # inverting a digit moves the mostly-black background to white: the mean pixel value rises
    assert setup.shifted["inverted"].mean() > setup.in_distribution.mean() + 1.0
    torch.testing.assert_close(setup.shifted["rotated 90°"], torch.rot90(setup.in_distribution, 1, (2, 3)))
    embeddings = study.embed_all(setup, setup.in_distribution)
    assert embeddings.shape == (4, setup.encoder.config.hidden_size) and torch.isfinite(embeddings).all()


def test_tabular_study_end_to_end(tmp_path, one_thread):
    rows, timings = study.main(
        ["--domains", "tjepa", "--steps", "10", "--count", "24", "--no-control", "--out", str(tmp_path)]
    )
    assert [r["shift"] for r in rows] == ["mean shift +1", "noise σ=1", "columns shuffled", "other table (digits)"]
    for row in rows:
        assert all(0.0 <= row[d] <= 1.0 for d in study.DETECTORS)
    by_shift = {r["shift"]: r for r in rows}
    # noise of one standard deviation on every column is plain to the Gaussian fit on the embeddings
    assert by_shift["noise σ=1"]["mahalanobis"] > 0.9
    assert timings[0]["samples"] == 5 * 24 and timings[0]["jepa_score_s"] > 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"] == rows
    assert "| tjepa (breast_cancer) | pretrained | mean shift +1 |" in (tmp_path / "results.md").read_text()
