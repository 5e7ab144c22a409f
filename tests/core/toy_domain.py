"""A toy 1-D JEPA domain built only from jepa_core parts: noisy sine mixtures whose label is the frequency."""

import math

import numpy as np
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
from jepa_core.overrides import ConfigFieldError
from jepa_core.processing import register_processor
from torch.utils.data import Dataset
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin
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


class ToyFeatureExtractor(FeatureExtractionMixin):
    """Signals (N, length) or (length,) → `input_values` (N, 1, length), standardised by a fitted mean and std."""

    model_input_names = ["input_values"]

    def __init__(self, mean: float = 0.0, std: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = float(mean), float(std)

    @classmethod
    def fit(cls, signals: torch.Tensor) -> "ToyFeatureExtractor":
        return cls(mean=signals.mean().item(), std=signals.std().item())

    def __call__(self, signals, return_tensors: str | None = None) -> BatchFeature:
        values = torch.as_tensor(np.asarray(signals), dtype=torch.float32)
        values = values.reshape(-1, 1, values.shape[-1])
        return BatchFeature({"input_values": (values - self.mean) / self.std}, tensor_type=return_tensors)


register_processor(ToyConfig, ToyFeatureExtractor)


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
        self.raw = amp * torch.sin(2 * math.pi * freq * t + phase) + noise
        self.processor = ToyFeatureExtractor()
        self.augment = False

    @property
    def signals(self) -> torch.Tensor:
        return self.processor(self.raw)["input_values"]

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: int) -> dict:
        raw = self.raw[index]
        if self.augment:  # a random gain from the global RNG, as crops and jitter in the real domains
            raw = raw * (0.8 + 0.4 * torch.rand(()))
        sample = {"input_values": self.processor(raw)["input_values"][0]}
        if self.labels is not None:
            sample["labels"] = self.labels[index]
        return sample


def with_processor(dataset: ToySignals, split: str, processor: ToyFeatureExtractor | None) -> ToySignals:
    """The train split fits the processor when none is given; the others use the one they get."""
    if processor is None and split == "train":
        processor = ToyFeatureExtractor.fit(dataset.raw)
    dataset.processor = processor or ToyFeatureExtractor()
    return dataset


def toy_collator(config: ToyConfig, seed: int = 0) -> MultiBlockMaskCollator:
    sampler = MultiBlockMaskSampler(
        (config.signal_length // config.patch_size,),
        target=BlockRule(2, (0.15, 0.2)),
        context=BlockRule(1, (0.85, 1.0)),
        min_keep=2,
    )
    return MultiBlockMaskCollator(sampler, seed)


def toy_default_dataset(split: str, config: ToyConfig, processor=None) -> ToySignals:
    size, seed = {"train": (256, 0), "test": (128, 1), "all": (384, 2)}[split]
    return with_processor(ToySignals(size, config.signal_length, seed=seed), split, processor)


def toy_load_dataset(path: str, split: str, config: ToyConfig, processor=None) -> ToySignals:
    """A .npy file of signals (N, length), unlabelled, or a .npz with `signals` and `labels`; the first 3/4 of the
    rows are the train split, the rest the test split."""
    if path.endswith(".npz"):
        arrays = np.load(path)
        signals, labels = torch.from_numpy(arrays["signals"]).float(), torch.from_numpy(arrays["labels"])
    else:
        signals, labels = torch.from_numpy(np.load(path)).float(), None
    if signals.ndim != 2 or signals.shape[1] != config.signal_length:
        raise ConfigFieldError(
            f"{path}: signals shaped (N, {config.signal_length}) expected, got {tuple(signals.shape)}",
            "signal_length",
            signals.shape[-1],
        )
    cut = len(signals) * 3 // 4
    rows = {"train": slice(0, cut), "test": slice(cut, None), "all": slice(None)}[split]
    dataset = ToySignals(0, config.signal_length)
    dataset.raw, dataset.labels = signals[rows], None if labels is None else labels[rows]
    return with_processor(dataset, split, processor)


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
        processor_class=ToyFeatureExtractor,
        default_dataset=toy_default_dataset,
        load_dataset=toy_load_dataset,
        collator=toy_collator,
        headline_metric="linear_probe_accuracy",
        example_input="inputs = processor(np.sin(np.linspace(0, 20, 128)), return_tensors='pt')",
        embedded_data="noisy sines of 4 frequencies",
    )
