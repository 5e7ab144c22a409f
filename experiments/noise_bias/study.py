"""The implicit bias on a real package: does a tiny I-JEPA encode a high-variance, low-ρ noise channel less than
a masked-pixel (MAE-style) model built from the same parts?

Run from the repository root: ``.venv/bin/python -m experiments.noise_bias.study [--seed 0] [--steps 300]``.

Data: the embedded MNIST digits (ijepa ``tiny`` preset, 32² RGB, 4² patches); the blue channel is replaced by
a smooth Gaussian random field (white noise blurred with σ = ``NOISE_BLUR`` pixels, std ``NOISE_STD`` in
normalised units, about 2× the std of a digit channel, 1.45), drawn afresh per sample. Neighbouring patches
share part of the field, so it co-varies across views (large λ: worth reconstructing) while a far target patch
is poorly predicted by its context (low ρ). Both models use ``ImageJepaForPreTraining``'s context encoder,
predictor and multi-block masks; the MAE-style one predicts the raw pixels of the target blocks (MSE) instead
of the EMA encoder's latents.
Measure: a ridge probe from the frozen mean-pooled embedding (the exported encoder) to the 4×4 block means of
the noise channel and of the digit, test R² on held-out digits (400 random images each); a random-init encoder
is the floor. (Per-token probes are uninformative: a patch token keeps its linear patch embedding, R² ≈ 1 even
at random init.)
"""

import argparse
import json
import tempfile
from math import nan
from pathlib import Path

import numpy as np
import torch
from ijepa import ImageJepaConfig, ImageJepaForPreTraining
from ijepa.data import default_dataset
from ijepa.masking_ijepa import ImageJepaMaskCollator
from jepa_core.masks import apply_masks
from jepa_core.modeling_utils import JepaPreTrainingOutput
from jepa_core.training import TrainingArguments, pretrain
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from torch import nn
from torch.utils.data import Dataset

NOISE_CHANNEL = 2
NOISE_STD = 3.0
NOISE_BLUR = 2.0


def smooth_noise(size: int, generator: torch.Generator) -> torch.Tensor:
    """A (size, size) Gaussian random field: white noise convolved with a Gaussian of σ = NOISE_BLUR, std NOISE_STD."""
    radius = int(3 * NOISE_BLUR)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets**2) / (2 * NOISE_BLUR**2))
    kernel = (kernel / kernel.sum()).view(1, 1, -1)
    field = torch.randn(1, 1, size + 2 * radius, size + 2 * radius, generator=generator)
    field = nn.functional.conv2d(field, kernel.view(1, 1, 1, -1))
    field = nn.functional.conv2d(field, kernel.view(1, 1, -1, 1))[0, 0]
    return field / field.std() * NOISE_STD


class NoisyChannel(Dataset):
    """Wraps an image data set; channel ``NOISE_CHANNEL`` becomes fresh smooth noise (seeded by index and draw)."""

    def __init__(self, base: Dataset, seed: int = 0):
        self.base, self.seed, self.draws = base, seed, 0

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        sample = dict(self.base[index])
        self.draws += 1
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index * 7919 + self.draws)
        pixels = sample["pixel_values"].clone()
        pixels[NOISE_CHANNEL] = smooth_noise(pixels.shape[-1], generator)
        sample["pixel_values"] = pixels
        return sample


def patchify(pixels: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) → (B, N, C·patch²) in the encoder's row-major patch order."""
    batch, channels = pixels.shape[:2]
    patches = pixels.unfold(2, patch, patch).unfold(3, patch, patch)  # B, C, gh, gw, p, p
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(batch, -1, channels * patch * patch)


class MaskedPixelPredictor(ImageJepaForPreTraining):
    """MAE-style baseline from the same parts: the predictor's outputs at the target blocks → raw target pixels."""

    def __init__(self, config: ImageJepaConfig):
        super().__init__(config)
        self.pixel_head = nn.Linear(config.hidden_size, config.num_channels * config.patch_size**2)

    def forward(self, pixel_values, context_indices, target_indices, labels=None) -> JepaPreTrainingOutput:
        context = self.context_encoder(pixel_values, indices=context_indices).last_hidden_state
        predicted = self.predictor(context, context_indices, target_indices, self.predictor_pos_embed)
        predictions = self.pixel_head(predicted)
        targets = apply_masks(patchify(pixel_values, self.config.patch_size), target_indices)
        loss = nn.functional.mse_loss(predictions, targets)
        return JepaPreTrainingOutput(loss, predictions, targets, context.mean(1).detach())


def block_targets(pixels: torch.Tensor, blocks: int = 4) -> dict[str, np.ndarray]:
    """Per image: the noise channel and the digit channels averaged over a ``blocks × blocks`` grid."""
    pooled = nn.functional.adaptive_avg_pool2d(pixels, blocks)  # B, C, blocks, blocks
    digit = pooled[:, [c for c in range(pixels.shape[1]) if c != NOISE_CHANNEL]].mean(1)
    return {"noise": pooled[:, NOISE_CHANNEL].flatten(1).numpy(), "digit": digit.flatten(1).numpy()}


@torch.no_grad()
def probe_r2(encoder: nn.Module, train: torch.Tensor, test: torch.Tensor) -> dict[str, float]:
    """Ridge probe (CV-chosen penalty) from the mean-pooled embedding to the 4×4 block means.

    Returns the test R², variance-weighted over the blocks (constant corner blocks do not count).
    """
    encoder.eval()

    def embed(pixels):
        return torch.cat([encoder(chunk).last_hidden_state.mean(1) for chunk in pixels.split(128)]).numpy()

    x_train, x_test = embed(train), embed(test)
    y_train, y_test = block_targets(train), block_targets(test)
    scores = {}
    for name in ("noise", "digit"):
        probe = RidgeCV(alphas=np.logspace(-3, 3, 7)).fit(x_train, y_train[name])
        predicted = probe.predict(x_test)
        scores[name] = float(r2_score(y_test[name], predicted, multioutput="variance_weighted"))
    return scores


def fixed_noisy_set(split: str, config: ImageJepaConfig, count: int, seed: int) -> torch.Tensor:
    """``count`` random digits of ``split`` (the embedded set is ordered by class) with their noise channel."""
    data = NoisyChannel(default_dataset(split, config, augment=False), seed=seed)
    chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]
    return torch.stack([data[int(i)]["pixel_values"] for i in chosen])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--probe-images", type=int, default=400, help="images for the probe (train and test each)")
    parser.add_argument("--seed", type=int, default=0, help="model init, masks and training order")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    config = ImageJepaConfig.from_preset("tiny", max_steps=args.steps)
    probe_train = fixed_noisy_set("train", config, args.probe_images, seed=1)
    probe_test = fixed_noisy_set("test", config, args.probe_images, seed=2)
    results = {}
    for name, model_class in [
        ("I-JEPA (latent targets)", ImageJepaForPreTraining),
        ("masked pixels (MAE-style)", MaskedPixelPredictor),
    ]:
        torch.manual_seed(args.seed)
        model = model_class(config)
        if name.startswith("I-JEPA"):
            results["random init"] = probe_r2(model.export_encoder(), probe_train, probe_test)
        with tempfile.TemporaryDirectory() as run_dir:
            training = TrainingArguments.from_config(
                config, run_dir, max_steps=args.steps, seed=args.seed, save_every=10**9
            )
            metrics = pretrain(
                model,
                NoisyChannel(default_dataset("train", config), seed=args.seed),
                ImageJepaMaskCollator(config, args.seed),
                training,
            )
        results[name] = probe_r2(model.export_encoder(), probe_train, probe_test)
        results[name] |= {"final_loss": metrics["final_loss"], "final_rankme": metrics.get("final_rankme")}
    lines = ["| encoder | R² noise blocks | R² digit blocks | final loss | RankMe |", "|---|---|---|---|---|"]
    lines += [
        f"| {name} | {r['noise']:.3f} | {r['digit']:.3f} | {r.get('final_loss', nan):.4g} | "
        f"{r.get('final_rankme', nan):.3g} |"
        for name, r in results.items()
    ]
    table = "\n".join(lines)
    print(table)
    (args.out / f"results_seed{args.seed}.md").write_text(table + "\n")
    (args.out / f"results_seed{args.seed}.json").write_text(
        json.dumps({"results": results, "args": vars(args)}, indent=1, default=str)
    )
    return results


if __name__ == "__main__":
    main()
