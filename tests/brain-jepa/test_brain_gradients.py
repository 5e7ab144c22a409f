"""Brain gradient positioning computed from data: FC, normalized-angle affinity, diffusion map."""

import numpy as np
import pytest
from brain_jepa import (
    BrainJepaConfig,
    brain_gradients,
    brain_gradients_from_timeseries,
    diffusion_map,
    functional_connectivity,
    normalized_angle_affinity,
)
from brain_jepa.data import embedded_brain_gradients, network_of_rois
from scipy.stats import spearmanr


def chain_connectivity(num_rois: int = 24, length: float = 3.0) -> np.ndarray:
    position = np.arange(num_rois)
    return np.exp(-np.abs(position[:, None] - position[None]) / length)


def two_communities(sizes=(10, 14), inside=0.6, between=0.05, seed=0) -> np.ndarray:
    membership = np.repeat([0, 1], sizes)
    fc = np.where(membership[:, None] == membership[None], inside, between)
    noise = np.random.default_rng(seed).normal(0, 0.05, fc.shape)
    fc = fc + (noise + noise.T) / 2
    np.fill_diagonal(fc, 1.0)
    return fc, membership


def test_normalized_angle_affinity_values():
    fc = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])
    affinity = normalized_angle_affinity(fc, sparsity=0)
    # rows 0 and 2 are antiparallel (angle π → 0), rows 0 and 1 orthogonal (π/2 → 0.5), self → 1
    np.testing.assert_allclose(affinity, [[1, 0.5, 0], [0.5, 1, 0.5], [0, 0.5, 1]], atol=1e-7)


def test_sparsity_keeps_the_top_of_each_row():
    fc = chain_connectivity(20)
    dense, sparse = normalized_angle_affinity(fc, 0), normalized_angle_affinity(fc, 0.9)
    # after keeping the top 10 % per row, far-apart ROIs share no support: cosine 0 → affinity exactly 0.5
    assert sparse[0, 19] == pytest.approx(0.5)
    assert dense[0, 19] > 0.5


def test_chain_leading_gradient_orders_the_rois():
    gradients = brain_gradients(chain_connectivity(), num_components=5)
    assert gradients.shape == (24, 5)
    assert abs(spearmanr(gradients[:, 0], np.arange(24))[0]) > 0.95


def test_two_communities_split_by_the_first_gradient():
    fc, membership = two_communities()
    gradients = brain_gradients(fc, num_components=3)
    sign = np.sign(gradients[:, 0])
    assert len(set(sign[membership == 0])) == 1 and len(set(sign[membership == 1])) == 1
    assert sign[membership == 0][0] != sign[membership == 1][0]


def test_diffusion_map_solves_the_eigenproblem_with_paper_scaling():
    fc, _ = two_communities()
    affinity = normalized_angle_affinity(fc)
    embedding, eigenvalues = diffusion_map(affinity, 4, alpha=0.5)
    degree = affinity.sum(1)
    kernel = affinity / np.outer(degree**0.5, degree**0.5)
    markov = kernel / kernel.sum(1, keepdims=True)  # M = D^-1 L_alpha
    np.testing.assert_allclose(markov @ embedding, embedding * eigenvalues, atol=1e-10)
    assert np.all(np.diff(eigenvalues) <= 0) and np.all((eigenvalues > 0) & (eigenvalues < 1))
    # λ/(1−λ) scaling of the eigenvectors v_k / v_0 of the symmetric D^-1/2 L_alpha D^-1/2
    symmetric = kernel / np.sqrt(np.outer(kernel.sum(1), kernel.sum(1)))
    values, vectors = np.linalg.eigh(symmetric)
    vectors = vectors[:, ::-1]
    psi = vectors[:, 1:5] / vectors[:, [0]]
    np.testing.assert_allclose(values[::-1][1:5], eigenvalues, atol=1e-12)
    np.testing.assert_allclose(np.abs(embedding), np.abs(psi * eigenvalues / (1 - eigenvalues)), atol=1e-10)


def test_gradients_from_timeseries_recover_communities():
    _, membership = two_communities()
    rng = np.random.default_rng(1)
    shared = rng.normal(size=(2, 200))
    subjects = [shared[membership] + 0.8 * rng.normal(size=(24, 200)) for _ in range(3)]
    gradients = brain_gradients_from_timeseries(subjects, num_components=2)
    assert (np.sign(gradients[:, 0]) == np.sign(gradients[0, 0])).tolist() == (membership == 0).tolist()


def test_functional_connectivity_is_the_fisher_z_mean():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 50)), rng.normal(size=(4, 50))
    expected = np.tanh((np.arctanh(np.corrcoef(a)[0, 1]) + np.arctanh(np.corrcoef(b)[0, 1])) / 2)
    assert functional_connectivity([a, b])[0, 1] == pytest.approx(expected)


def test_embedded_gradients_place_each_roi_next_to_its_network():
    gradients = embedded_brain_gradients(BrainJepaConfig.from_preset("tiny"))
    networks = network_of_rois()
    distances = np.linalg.norm(gradients[:, None, :3] - gradients[None, :, :3], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert np.mean(networks[distances.argmin(axis=1)] == networks) > 0.9


def test_bad_connectivity_gets_clear_errors():
    with pytest.raises(ValueError, match="disconnected parts"):
        diffusion_map(np.kron(np.eye(2), np.ones((3, 3))), 2)
    with pytest.raises(ValueError, match="constant ROIs \\[2\\]"):
        series = np.random.default_rng(0).normal(size=(4, 30))
        series[2] = 5.0
        functional_connectivity([series])
    with pytest.raises(ValueError, match="square"):
        normalized_angle_affinity(np.ones((3, 4)))
    with pytest.raises(ValueError, match="at most|give 1 to 3"):
        diffusion_map(np.ones((4, 4)), 4)
