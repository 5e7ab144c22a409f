"""The multi-scale gradient-by-ratio targets against hand computations, edges, gain and speckle."""

import math

import numpy as np
import pytest
import torch
from jepa_core.targets import FixedTransformTarget
from sar_jepa.processor_sar_jepa import (
    MultiScaleGradientTarget,
    gradient_by_ratio,
    multiscale_gradient_targets,
    patchify,
)


def loop_gradient_by_ratio(image: np.ndarray, r: int, offset: float) -> np.ndarray:
    """The operator written out pixel by pixel from its definition (half windows share the centre line)."""
    padded = np.pad(image.astype(np.float64), r, mode="reflect") + offset
    out = np.zeros_like(image, dtype=np.float64)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            box = padded[i : i + 2 * r + 1, j : j + 2 * r + 1]
            gx = math.log(box[:, : r + 1].mean() / box[:, r:].mean())
            gy = math.log(box[: r + 1, :].mean() / box[r:, :].mean())
            out[i, j] = math.hypot(gx, gy)
    return out


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_matches_the_loop_definition(radius):
    image = np.random.default_rng(radius).uniform(0.0, 1.0, (9, 11))
    got = gradient_by_ratio(torch.from_numpy(image)[None, None], radius, 0.01)[0, 0].double().numpy()
    np.testing.assert_allclose(got, loop_gradient_by_ratio(image, radius, 0.01), rtol=1e-5, atol=1e-6)


def test_vertical_step_edge_by_hand():
    # columns 0-1 are 1, columns 2-4 are 4; r = 1 → 3×3 box, half windows of 3×2 sharing the centre column
    image = torch.tensor([[1.0, 1.0, 4.0, 4.0, 4.0]] * 5)[None, None]
    g = gradient_by_ratio(image, 1, 0.01)[0, 0]
    assert g[2, 0] == pytest.approx(0.0, abs=1e-6)  # reflect padding mirrors column 1 (= 1) to the left
    assert g[2, 1] == pytest.approx(abs(math.log(1.01 / 2.51)), rel=1e-5)  # left (1, 1) vs right (1, 4)
    assert g[2, 2] == pytest.approx(abs(math.log(2.51 / 4.01)), rel=1e-5)  # left (1, 4) vs right (4, 4)
    assert g[2, 3] == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(g, g[2].expand(5, -1))  # rows are identical: no vertical gradient anywhere


def test_horizontal_edge_is_seen_by_gy_and_peaks_on_the_edge():
    image = torch.full((1, 1, 40, 40), 0.2)
    image[..., 20:, :] = 0.8
    g = gradient_by_ratio(image, 5, 0.01)[0, 0]
    profile = g[:, 20]
    assert int(profile.argmax()) == 19  # the last dark row: its lower half window holds 5 bright rows of 6
    assert profile[0] == pytest.approx(0.0, abs=1e-6) and profile[-1] == pytest.approx(0.0, abs=1e-6)
    assert profile.max() == pytest.approx(math.log((0.21 + 5 * 0.81) / 6 / 0.21), rel=1e-5)


def test_invariant_to_a_constant_gain():
    image = torch.rand(2, 1, 24, 24, generator=torch.Generator().manual_seed(0)) + 0.05
    for radius in (2, 5):
        exact = gradient_by_ratio(image, radius, offset=0.0)
        assert torch.allclose(gradient_by_ratio(image * 37.5, radius, offset=0.0), exact, atol=1e-5)
    # with the paper's +0.01 the invariance is approximate for amplitudes well above 0.01
    near = gradient_by_ratio(image * 0.5 + 0.5, 5) - gradient_by_ratio(image + 1.0, 5)
    assert near.abs().max() < 0.01


def test_speckle_response_does_not_depend_on_brightness_but_a_difference_does():
    speckle = torch.distributions.Gamma(4.0, 4.0).sample((1, 1, 48, 48))
    dark, bright = 0.05 * speckle, 0.9 * speckle
    ratio_dark, ratio_bright = gradient_by_ratio(dark, 5, 0.0), gradient_by_ratio(bright, 5, 0.0)
    assert torch.allclose(ratio_dark, ratio_bright, atol=1e-5)
    difference = lambda x: (x[..., :, 1:] - x[..., :, :-1]).abs().mean()  # noqa: E731
    assert difference(bright) / difference(dark) == pytest.approx(18.0, rel=1e-4)


def test_edge_stands_out_of_speckle_at_large_scale():
    torch.manual_seed(0)
    scene = torch.full((1, 1, 64, 64), 1.0)
    scene[..., :, 32:] = 4.0
    speckled = scene * torch.distributions.Gamma(1.0, 1.0).sample(scene.shape)  # single-look, worst case
    g = gradient_by_ratio(speckled / speckled.max(), 9)[0, 0]
    edge, background = g[:, 31:33].mean(), torch.cat([g[:, :16], g[:, 48:]], 1).mean()
    assert edge > 3 * background


def test_patchify_order_and_multiscale_layout():
    maps = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    patches = patchify(maps, 2)
    assert patches.shape == (1, 4, 8)
    assert patches[0, 1].tolist() == [2, 3, 6, 7, 18, 19, 22, 23]  # top-right patch: map 0 then map 1
    image = torch.rand(3, 1, 32, 32)
    targets = multiscale_gradient_targets(image, (1, 3), 8)
    assert targets.shape == (3, 16, 2 * 64)
    g3 = gradient_by_ratio(image, 3)
    assert torch.allclose(targets[:, 5, 64:], g3[:, 0, 8:16, 8:16].reshape(3, 64))  # patch (1, 1), scale r=3


def test_fixed_transform_target_gathers_targets_without_gradient():
    image = torch.rand(2, 1, 32, 32, requires_grad=True)
    provider = FixedTransformTarget(MultiScaleGradientTarget((1, 2), 8))
    indices = torch.tensor([[[0, 3], [5, 6]], [[1, 2], [4, 15]]])
    targets, full = provider({"pixel_values": image}, indices)
    assert targets.shape == (2, 2, 2, 128) and not targets.requires_grad
    assert torch.equal(targets[1, 1, 1], full[1, 15])
    assert provider.momentum_pairs() == []


def test_clear_errors():
    with pytest.raises(ValueError, match="too small for the gradient half-width 17"):
        gradient_by_ratio(torch.rand(1, 1, 16, 16), 17)
    with pytest.raises(ValueError, match="non-negative"):
        multiscale_gradient_targets(-torch.rand(1, 1, 16, 16), (1,), 4)
    with pytest.raises(ValueError, match="batch, channels, height, width"):
        gradient_by_ratio(torch.rand(16, 16), 1)
