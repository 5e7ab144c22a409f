import math

import numpy as np
import pytest
import torch
from jepa_core.evaluation import extract_embeddings, jepa_score, knn_probe, linear_probe, pool_tokens, rankme
from torch import nn
from transformers.modeling_outputs import BaseModelOutput


# --- RankMe -----------------------------------------------------------------------------------------
def test_rankme_identity_like_equals_dim():
    d = 16
    z = torch.eye(d).repeat(8, 1)  # (128, 16), all singular values equal
    assert rankme(z) == pytest.approx(d, rel=1e-4)
    q, _ = torch.linalg.qr(torch.randn(200, d, dtype=torch.float64))
    assert rankme(q * 3.0) == pytest.approx(d, rel=1e-4)


def test_rankme_rank_one_and_bounds():
    z = torch.randn(100, 1) @ torch.randn(1, 32)
    assert rankme(z) == pytest.approx(1.0, abs=1e-3)
    r = rankme(torch.randn(500, 32))
    assert 20 < r <= 32
    assert rankme(torch.zeros(10, 4)) == 0.0


def test_rankme_matches_formula():
    z = torch.randn(50, 8, dtype=torch.float64)
    s = torch.linalg.svdvals(z)
    p = s / s.sum() + 1e-7
    assert rankme(z) == pytest.approx(math.exp(-(p * p.log()).sum().item()), rel=1e-12)


@pytest.mark.parametrize(
    "z, match",
    [
        (torch.randn(10), "2-D"),
        (torch.randn(1, 4), "2 rows"),
        (torch.tensor([[1.0, float("nan")]] * 3), "non-finite"),
    ],
)
def test_rankme_errors(z, match):
    with pytest.raises(ValueError, match=match):
        rankme(z)


# --- probes -----------------------------------------------------------------------------------------
def _blobs(n, d=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6.0, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    return centers[y] + rng.normal(size=(n, d)), y


def test_linear_probe_separable_and_random_labels():
    x, y = _blobs(400)
    res = linear_probe(x[:300], y[:300], x[300:], y[300:])
    assert res["accuracy"] > 0.95 and res["f1_macro"] > 0.95
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 8))
    y = rng.integers(0, 2, size=1000)
    res = linear_probe(x[:800], y[:800], x[800:], y[800:])
    assert abs(res["accuracy"] - 0.5) < 0.1 and abs(res["roc_auc"] - 0.5) < 0.1


def test_linear_probe_binary_roc_auc_and_torch_inputs():
    x, y = _blobs(300, classes=2)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    res = linear_probe(xt[:200], yt[:200], xt[200:], yt[200:])
    assert res["accuracy"] > 0.95 and res["roc_auc"] > 0.99


def test_linear_probe_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 10))
    y = x @ rng.normal(size=10) + 0.01 * rng.normal(size=300)
    res = linear_probe(x[:200], y[:200], x[200:], y[200:], task="regression")
    assert res["r2"] > 0.999 and res["rmse"] < 0.05
    assert res["alpha"] > 0


def test_knn_probe():
    x, y = _blobs(400)
    res = knn_probe(x[:300], y[:300], x[300:], y[300:], k=10)
    assert res["accuracy"] > 0.95 and res["k"] == 10
    assert knn_probe(x[:5], y[:5], x[300:], y[300:], k=20)["k"] == 5
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2))
    y = np.sin(x[:, 0]) + x[:, 1]
    res = knn_probe(x[:500], y[:500], x[500:], y[500:], k=5, task="regression", metric="euclidean")
    assert res["r2"] > 0.9


def test_probe_errors():
    x, y = _blobs(20)
    with pytest.raises(ValueError, match="rows"):
        linear_probe(x, y[:10], x, y)
    with pytest.raises(ValueError, match="empty"):
        knn_probe(x, y, x[:0], y[:0])
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(bad, y, x, y)
    with pytest.raises(ValueError, match="features"):
        linear_probe(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match="task"):
        linear_probe(x, y, x, y, task="ranking")
    with pytest.raises(ValueError, match="single class"):
        linear_probe(x, np.zeros(20), x, y)


# --- embeddings -------------------------------------------------------------------------------------
def test_pool_tokens():
    h = torch.arange(24.0).reshape(1, 4, 6)
    assert torch.equal(pool_tokens(h, "mean", 1), h[:, 1:].mean(1))
    assert torch.equal(pool_tokens(h, "prefix", 2), h[:, :2].mean(1))
    assert torch.equal(pool_tokens(h[:, 0], "none"), h[:, 0])
    with pytest.raises(ValueError, match="prefix"):
        pool_tokens(h, "prefix", 0)
    with pytest.raises(ValueError, match="pool"):
        pool_tokens(h, "max")


class _TokenEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 5)
        self.drop = nn.Dropout(0.5)

    def forward(self, input_values, attention_scale=1.0):
        return BaseModelOutput(last_hidden_state=self.drop(self.proj(input_values)) * attention_scale)


def test_extract_embeddings_matches_manual_pooling():
    enc = _TokenEncoder().train()
    xs = [torch.randn(4, 7, 3) for _ in range(3)]
    batches = [{"input_values": x, "labels": torch.arange(4) + 4 * i} for i, x in enumerate(xs)]
    X, y = extract_embeddings(enc, batches, pool="mean", num_prefix_tokens=1)
    with torch.no_grad():
        expected = torch.cat([enc.proj(x)[:, 1:].mean(1) for x in xs])
    assert X.shape == (12, 5) and not X.requires_grad
    torch.testing.assert_close(X, expected)  # eval mode: dropout is off
    assert torch.equal(y, torch.arange(12))
    assert enc.training  # mode restored

    X2, y2 = extract_embeddings(enc, ({"input_values": x, "other": 0} for x in xs), input_keys=["input_values"])
    assert y2 is None and X2.shape == (12, 5)


def test_extract_embeddings_plain_tensor_output_and_errors():
    enc = nn.Linear(3, 4)
    X, y = extract_embeddings(
        enc, [{"input": torch.randn(2, 3), "y": torch.tensor([0, 1])}], label_key="y", pool="none"
    )
    assert X.shape == (2, 4) and y.tolist() == [0, 1]
    with pytest.raises(ValueError, match="no batches"):
        extract_embeddings(enc, [], pool="none")
    with pytest.raises(KeyError, match="missing_key"):
        extract_embeddings(enc, [{"input": torch.randn(2, 3)}], input_keys=["missing_key"], pool="none")


# --- JEPA-SCORE -------------------------------------------------------------------------------------
def test_jepa_score_linear_closed_form():
    torch.manual_seed(0)
    lin = nn.Linear(12, 5).double()
    x = torch.randn(7, 3, 4, dtype=torch.float64)  # flattened input dimension 12
    scores = jepa_score(lambda z: lin(z.flatten(1)), x, chunk_size=3, output_chunk_size=2)
    expected = torch.linalg.svdvals(lin.weight.detach()).log().sum()
    assert scores.shape == (7,) and not scores.requires_grad
    torch.testing.assert_close(scores, expected.expand(7))


def test_jepa_score_per_sample_closed_form():
    # f(x) = W tanh(x), square W: log|det J| = sum log σ(W) + sum log(1 - tanh(x)^2), differs per sample
    torch.manual_seed(0)
    w = torch.randn(6, 6, dtype=torch.float64)
    x = torch.randn(5, 6, dtype=torch.float64)
    scores = jepa_score(lambda z: torch.tanh(z) @ w.T, x, eps=1e-30, chunk_size=2)
    expected = torch.linalg.svdvals(w).log().sum() + (1 - torch.tanh(x) ** 2).log().sum(1)
    torch.testing.assert_close(scores, expected)


def test_jepa_score_eps_clamps_and_errors():
    x = torch.randn(3, 4)
    scores = jepa_score(lambda z: z[:, :2] * 0.0, x, eps=1e-6)  # zero Jacobian: 2 singular values clamp to eps
    torch.testing.assert_close(scores, torch.full((3,), 2 * math.log(1e-6)))
    with pytest.raises(ValueError, match="pooled"):
        jepa_score(lambda z: z.sum(1), x)
    with pytest.raises(ValueError, match="floating"):
        jepa_score(lambda z: z, torch.ones(2, 3, dtype=torch.long))
