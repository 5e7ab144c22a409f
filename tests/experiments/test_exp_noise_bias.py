"""The noise-channel study: its noise field, the masked-pixel baseline and the probe targets."""

import torch
from ijepa import ImageJepaConfig, ImageJepaMaskCollator

from experiments.noise_bias import study


def test_smooth_noise_has_the_set_variance_and_short_range_correlation():
    fields = torch.stack([study.smooth_noise(32, torch.Generator().manual_seed(i)) for i in range(64)])
    assert fields.shape == (64, 32, 32)
    assert abs(fields.std().item() - study.NOISE_STD) < 0.05 * study.NOISE_STD

    def correlation(shift):
        a, b = fields[:, :, :-shift].flatten(), fields[:, :, shift:].flatten()
        return torch.corrcoef(torch.stack([a, b]))[0, 1].item()

    # neighbouring pixels (and so neighbouring 4×4 patches) share the field; 16 pixels apart they do not
    assert correlation(1) > 0.8 and correlation(4) > 0.1 and abs(correlation(16)) < 0.1


def test_patchify_matches_row_major_patches():
    pixels = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    patches = study.patchify(pixels, 4)
    assert patches.shape == (2, 4, 48)
    torch.testing.assert_close(patches[1, 2].reshape(3, 4, 4), pixels[1, :, 4:8, 0:4])  # row 1, column 0


def test_masked_pixel_baseline_learns_and_block_targets_read_the_right_channels():
    config = ImageJepaConfig.from_preset("tiny")
    images = torch.randn(8, 3, 32, 32)
    images[:, study.NOISE_CHANNEL] = 5.0
    targets = study.block_targets(images)
    assert targets["noise"].shape == (8, 16) and (targets["noise"] == 5.0).all()
    torch.manual_seed(0)
    model = study.MaskedPixelPredictor(config)
    batch = ImageJepaMaskCollator(config, 0)([{"pixel_values": image} for image in images])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        output = model(**batch)
        assert output.predictions.shape == output.targets.shape and output.targets.shape[-1] == 48
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
    assert losses[-1] < 0.9 * losses[0]
