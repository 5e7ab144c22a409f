"""The T-JEPA table study's pieces: downstream scores on known data and one short run on wine."""

import numpy as np
import torch

from experiments.tjepa_tables.study import downstream, run_table


def test_downstream_scores_a_linear_signal():
    g = np.random.default_rng(0)
    x = g.normal(size=(200, 5))
    y = 100 + 30 * x[:, 0]
    scores = downstream("regression", x[:150], y[:150], x[150:], y[150:], 0)
    assert scores["linear"] > 0.999 and scores["mlp"] > 0.95
    labels = (x[:, 1] > 0).astype(int)
    scores = downstream("classification", x[:150], labels[:150], x[150:], labels[150:], 0)
    assert scores["linear"] > 0.95


def test_short_run_on_wine():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        row = run_table("wine", seed=0, registers=2, max_steps=5)
    finally:
        torch.set_num_threads(threads)
    assert {"hgb", "raw_linear", "raw_mlp", "tjepa2_linear", "tjepa0_mlp", "tjepa2_rankme", "tjepa0_rankme"} <= set(row)
    assert row["raw_linear"] > 0.9 and row["hgb"] > 0.8
    assert 1.0 <= row["tjepa2_rankme"] <= 32 and row["tjepa0_linear"] > 0.8
