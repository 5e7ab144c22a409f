"""A toy 1-D JEPA domain built only from jepa_core parts: noisy sine mixtures whose label is the frequency."""

import math

import torch
from huggingface_hub.dataclasses import strict
from jepa_core.layers import PatchEmbed1d, sincos_1d
from jepa_core.masks import BlockRule, MultiBlockMaskCollator, MultiBlockMaskSampler
from jepa_core.modeling_utils import (
    JepaConfig,
    JepaForPreTraining,
    JepaPreTrainedModel,
    build_encoder,
    register_auto_classes,
)
from torch.utils.data import Dataset
from transformers.modeling_outputs import BaseModelOutput


@strict
class ToyConfig(JepaConfig):
    model_type = "jepa_toy_signal"
    presets = {
        "tiny": dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, pred_hidden_size=16,
            pred_num_hidden_layers=1, train_batch_size=16, max_steps=40, learning_rate=2e-3,
            start_learning_rate=5e-4, warmup_ratio=0.1, ema_momentum_start=0.9,
        )
    }  # fmt: skip
    num_channels: int = 1
    signal_length: int = 128
    patch_size: int = 8


class ToyModel(JepaPreTrainedModel):
    config: ToyConfig
    base_model_prefix = "toy"
    main_input_name = "input_values"

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        self.patch_embed = PatchEmbed1d(config.num_channels, config.hidden_size, config.patch_size)
        num_patches = config.signal_length // config.patch_size
        self.register_buffer("pos_embed", sincos_1d(torch.arange(num_patches), config.hidden_size), persistent=True)
        self.encoder = build_encoder(config, config.num_register_tokens)
        self.post_init()

    def forward(self, input_values: torch.Tensor, indices: torch.Tensor | None = None, **kwargs) -> BaseModelOutput:
        tokens = self.patch_embed(input_values) + self.pos_embed
        return BaseModelOutput(last_hidden_state=self.encoder(tokens, indices))


class ToyForPreTraining(JepaForPreTraining):
    config: ToyConfig
    encoder_class = ToyModel

    def predictor_positions(self) -> torch.Tensor:
        num_patches = self.config.signal_length // self.config.patch_size
        return sincos_1d(torch.arange(num_patches), self.config.pred_hidden_size)


register_auto_classes(ToyConfig, ToyModel, ToyForPreTraining)


class ToySignals(Dataset):
    """Sines of one of 4 frequencies with random phase, amplitude and noise; label = frequency class."""

    def __init__(self, size: int = 256, length: int = 128, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 4, (size,), generator=generator)
        t = torch.arange(length) / length
        phase = torch.rand(size, 1, generator=generator) * 2 * math.pi
        freq = (2 + 3 * self.labels.float())[:, None]
        amp = 0.5 + torch.rand(size, 1, generator=generator)
        noise = 0.1 * torch.randn(size, length, generator=generator)
        self.signals = (amp * torch.sin(2 * math.pi * freq * t + phase) + noise)[:, None, :]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | slice) -> dict:
        return {"input_values": self.signals[index], "labels": self.labels[index]}


def toy_collator(config: ToyConfig, seed: int = 0) -> MultiBlockMaskCollator:
    sampler = MultiBlockMaskSampler(
        (config.signal_length // config.patch_size,),
        target=BlockRule(2, (0.15, 0.2)),
        context=BlockRule(1, (0.85, 1.0)),
        min_keep=2,
    )
    return MultiBlockMaskCollator(sampler, seed)


def toy_default_dataset(split: str, config: ToyConfig) -> ToySignals:
    return ToySignals(256 if split == "train" else 128, config.signal_length, seed=0 if split == "train" else 1)


def toy_load_dataset(path: str, split: str, config: ToyConfig) -> ToySignals:
    """A .npy file of signals (N, length); labels are not known, so they are zeros."""
    import numpy as np

    signals = torch.from_numpy(np.load(path)).float()
    if signals.ndim != 2 or signals.shape[1] != config.signal_length:
        raise ValueError(f"{path}: expected signals shaped (N, {config.signal_length}), got {tuple(signals.shape)}")
    dataset = ToySignals(0, config.signal_length)
    dataset.signals, dataset.labels = signals[:, None], torch.zeros(len(signals), dtype=torch.long)
    return dataset


def toy_evaluate(encoder: ToyModel, config: ToyConfig, data: str | None) -> dict[str, float]:
    from jepa_core.evaluation import extract_embeddings, linear_probe

    def batches(dataset):
        return [dataset[i : i + 64] for i in range(0, len(dataset), 64)]

    train_x, train_y = extract_embeddings(encoder, batches(toy_default_dataset("train", config)))
    test_x, test_y = extract_embeddings(encoder, batches(toy_default_dataset("test", config)))
    return {"probe_accuracy": linear_probe(train_x, train_y, test_x, test_y)["accuracy"]}


def toy_domain():
    from jepa_core.domain import Domain

    return Domain(
        name="toy",
        distribution="jepa-toy",
        import_name="toy_domain",
        description="noisy sines (test domain)",
        paper_url="https://arxiv.org/abs/2301.08243",
        config_class=ToyConfig,
        model_class=ToyModel,
        pretraining_class=ToyForPreTraining,
        default_dataset=toy_default_dataset,
        load_dataset=toy_load_dataset,
        collator=toy_collator,
        evaluate=toy_evaluate,
    )
