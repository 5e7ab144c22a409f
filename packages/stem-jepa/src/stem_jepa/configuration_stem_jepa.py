"""Stem-JEPA configuration: every hyper-parameter of the reference (SonyCSLParis/Stem-JEPA), its values as defaults."""

import numpy as np
import torch
from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig
from jepa_core.overrides import ConfigFieldError

Names = tuple[str, ...] | list[str]

MUSDB_INSTRUMENTS = ("bass", "drums", "other", "vocals")
CHORALE_INSTRUMENTS = ("soprano", "alto", "tenor", "bass")
PREDICTOR_TYPES = ("mlp", "transformer")
CONTEXT_MODES = ("uniform", "max", "one")
CONDITIONINGS = ("concat", "none")
SILENCE_MODES = ("relative", "absolute")
SILENCE_FLOOR = 1e-4  # a stem below this peak is digital silence in either mode

_PAPER_OPTIM = dict(
    learning_rate=3e-4, start_learning_rate=0.0, final_learning_rate=0.0, warmup_ratio=250 / 23_400,
    weight_decay=0.05, final_weight_decay=0.05, max_grad_norm=3.0, train_batch_size=256, max_steps=23_400,
)  # fmt: skip
_TINY = dict(
    hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_frames=256,
    pred_mlp_hidden_size=128, pred_mlp_num_hidden_layers=2, pred_hidden_size=64, pred_num_hidden_layers=2,
    pred_num_attention_heads=4, instrument_names=CHORALE_INSTRUMENTS, train_batch_size=32, max_steps=500,
    learning_rate=2e-3, start_learning_rate=1e-4, final_learning_rate=1e-5, warmup_ratio=0.1,
    weight_decay=0.05, final_weight_decay=0.05, ema_momentum_start=0.95, ema_momentum_end=0.995, max_grad_norm=3.0,
)  # fmt: skip
# The paper's EMA (0.99995 → 0.99999, a horizon of 20 000+ steps) is meant for 23 400-step runs; over a few hundred
# steps the target encoder would hardly move from its random init, and the exported EMA encoder would not match the
# predictor. The tiny preset uses a horizon of 20 → 200 steps (measured in the README).


@strict
class StemJepaConfig(JepaConfig):
    """Stem-JEPA: a ViT over log-mel patches (80 × 800 → 5 × 50 grid) predicts the embedding of a missing stem
    from the mix of the other stems, conditioned on the stem's instrument class.

    Audio front end (`ToLMS` of the reference): 16 kHz, n_fft = window = 400, hop 160 (10 ms), 80 mel bins in
    [50, 8000] Hz, log(power + `log_eps`), standardised with (`spec_mean`, `spec_std`). `instrument_names` are
    the classes the predictor is conditioned on (the reference: MUSDB's four, in its channel order).
    `predictor_type="mlp"` is the reference default (per-patch MLP, `pred_mlp_*`); `"transformer"` uses the
    `pred_*` transformer fields. `loss_type="norm_mse"` is 2 − 2·cos on per-token standardised targets.
    Silence (`silence_threshold`, `silence_mode`): see `active_stems`. With `--data`, the training split's stem
    names become `instrument_names` when the config's do not cover them (see `data.infer_instruments`).
    """

    model_type = "jepa_stem"
    presets = {
        "tiny": _TINY,
        "small": dict(
            _TINY, hidden_size=192, num_hidden_layers=6, num_attention_heads=3, num_frames=400,
            pred_mlp_hidden_size=512, pred_mlp_num_hidden_layers=3, train_batch_size=64, max_steps=2000,
            ema_momentum_start=0.996, ema_momentum_end=0.9999, learning_rate=1e-3,
        ),
        "base": dict(_PAPER_OPTIM),
        "base-transformer": dict(_PAPER_OPTIM, predictor_type="transformer"),
    }  # fmt: skip

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    sample_rate: int = 16_000
    n_fft: int = 400
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 80
    f_min: float = 50.0
    f_max: float = 8000.0
    log_eps: float = 1.1920928955078125e-07
    spec_mean: float = -9.453
    spec_std: float = 3.569
    num_frames: int = 800
    patch_size: int = 16
    instrument_names: Names = MUSDB_INSTRUMENTS
    predictor_type: str = "mlp"
    pred_mlp_hidden_size: int = 1024
    pred_mlp_num_hidden_layers: int = 5
    pred_conditioning: str = "concat"
    pred_condition_size: int | None = None
    pred_hidden_size: int = 512
    pred_num_hidden_layers: int = 8
    pred_num_attention_heads: int | None = 16
    context_mode: str = "uniform"
    silence_threshold: float = 0.1
    silence_mode: str = "relative"
    loss_type: str = "norm_mse"
    ema_momentum_start: float = 0.99995
    ema_momentum_end: float = 0.99999
    # SIGReg (objective="sigreg") on every token: recall AUC 0.884 vs 0.672 pooled (tiny, 500 steps, seeds 0 and 1);
    # of the context encoder's tokens (the mix) rather than the target stem's: 0.893 and 0.924 at 500 and 2000 steps
    # vs 0.886 and 0.913, 3 seeds (experiments/sigreg/README.md)
    sigreg_embeddings: str = "tokens"
    sigreg_view: str = "context"
    learning_rate: float = 3e-4
    start_learning_rate: float = 0.0
    final_learning_rate: float = 0.0
    warmup_ratio: float = 250 / 23_400
    weight_decay: float = 0.05
    final_weight_decay: float = 0.05
    max_grad_norm: float | None = 3.0
    train_batch_size: int = 256
    max_steps: int = 23_400

    def __post_init__(self, **kwargs):
        self.instrument_names = [str(name).lower() for name in self.instrument_names]
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        checks = [
            (self.predictor_type in PREDICTOR_TYPES, f"predictor_type must be one of {PREDICTOR_TYPES}"),
            (self.context_mode in CONTEXT_MODES, f"context_mode must be one of {CONTEXT_MODES}"),
            (self.silence_mode in SILENCE_MODES, f"silence_mode must be one of {SILENCE_MODES}"),
            (self.pred_conditioning in CONDITIONINGS, f"pred_conditioning must be one of {CONDITIONINGS}"),
            (self.n_mels % self.patch_size == 0, "n_mels must be a multiple of patch_size"),
            (self.num_frames % self.patch_size == 0, "num_frames must be a multiple of patch_size"),
            (len(self.instrument_names) >= 1, "instrument_names must name at least one instrument class"),
            (len(set(self.instrument_names)) == len(self.instrument_names), "instrument_names has duplicates"),
            (0 < self.f_min < self.f_max <= self.sample_rate / 2, "need 0 < f_min < f_max <= sample_rate / 2"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"invalid StemJepaConfig: {message}")

    def active_stems(self, peaks) -> torch.Tensor:
        """(..., S) peak amplitudes of the stems of a song or chunk → (..., S) bool: not silent.

        `silence_mode="relative"` (default): a stem is active when its peak exceeds `silence_threshold` times the
        loudest stem's of the same song or chunk (and `SILENCE_FLOOR`), so that quietly mastered songs keep their
        stems; "absolute": the reference's rule, peak > `silence_threshold` (0.1) on the raw waveform."""
        peaks = torch.as_tensor(np.asarray(peaks) if not isinstance(peaks, torch.Tensor) else peaks).float()
        if self.silence_mode == "absolute":
            return peaks > self.silence_threshold
        loudest = peaks.amax(dim=-1, keepdim=True) if peaks.numel() else peaks
        return (peaks > self.silence_threshold * loudest) & (peaks > SILENCE_FLOOR)

    @property
    def num_instruments(self) -> int:
        return len(self.instrument_names)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(frequency, time) patches of one chunk: (5, 50) for the reference."""
        return self.n_mels // self.patch_size, self.num_frames // self.patch_size

    @property
    def chunk_samples(self) -> int:
        """Audio samples of one chunk (num_frames hops: 8 s at 16 kHz for the reference)."""
        return self.num_frames * self.hop_length

    def instrument_index(self, name: str) -> int:
        """Class index of an instrument name; a clear error for unknown names."""
        key = name.lower()
        if key not in self.instrument_names:
            raise ConfigFieldError(
                f"unknown instrument {name!r}; this model knows {list(self.instrument_names)}. Rename the stem, "
                "or pretrain with instrument_names listing your stems' names",
                "instrument_names",
                [*self.instrument_names, key],
            )
        return self.instrument_names.index(key)
