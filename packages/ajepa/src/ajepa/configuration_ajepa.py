"""A-JEPA configuration: Kaldi fbank features, the spectrogram ViT, the curriculum masks and masked fine-tuning."""

from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig
from jepa_core.overrides import ConfigFieldError

Range = tuple[float, float] | list[float]
SCHEDULES = ("linear", "cosine", "step")


@strict
class AudioJepaConfig(JepaConfig):
    """Every A-JEPA hyper-parameter (Fei, Fan, Huang, arXiv 2311.15830); defaults are the paper's ViT-B/16.

    Features (AudioMAE's, which the paper follows): mono 16 kHz, 128 Kaldi log-mel bins, 25 ms Hann window,
    10 ms hop, 1024 frames (10 s), normalised as (fbank - mean) / (2 std) with AudioSet statistics by default.
    Input (B, frames, mel bins) is cut into 16 × 16 patches: a (time, frequency) grid of 64 × 8 tokens.

    Masks: I-JEPA multi-block at first (4 targets at scale 0.15–0.2 and aspect ratio 0.75–1.5, one 0.85–1.0
    context block); aspect ratios are relative to the grid's (64 / 8), so that blocks keep the grid's
    shape instead of being clipped to all 8 frequency rows (which would make every block a time stripe and
    the context block a third of the grid). They move to
    time-frequency masks (4 targets that are whole time stripes or whole frequency bands). The share of
    batches that use time-frequency masks follows `curriculum_schedule` from 0 at `curriculum_start` to
    `curriculum_final_prob` at `curriculum_end` (both fractions of `max_steps`). `finetune_mask_ratio` is the
    share of patches replaced by the mask token while fine-tuning a classifier.

    User data (`--data`): `fit_normalization` fits `fbank_mean` / `fbank_std` on the training clips (as AudioMAE
    computes statistics per data set; False keeps the config's values); `on_bad_file` ("error" / "skip") decides
    what the pre-check does with unreadable, silent, too short or wrongly scaled clips.
    """

    model_type = "jepa_ajepa"
    presets = {
        "tiny": dict(
            hidden_size=64, num_hidden_layers=4, num_attention_heads=4, pred_hidden_size=32,
            pred_num_hidden_layers=2, pred_num_attention_heads=4, target_length=128, min_keep=4,
            train_batch_size=32, max_steps=150, learning_rate=5e-4, start_learning_rate=1e-4, warmup_ratio=0.1,
            ema_momentum_start=0.99, objective="sigreg",  # LeJEPA: probes 0.55 vs EMA 0.43, 0.80 vs 0.41 at 4×
        ),
        "vit_small_16": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6),
        "vit_base_16": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12),
    }  # fmt: skip

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    train_batch_size: int = 512
    sampling_rate: int = 16000
    num_mel_bins: int = 128
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    preemphasis: float = 0.97
    low_freq: float = 20.0
    target_length: int = 1024
    fbank_mean: float = -4.2677393
    fbank_std: float = 4.5689974
    silence_threshold: float = 1e-4
    fit_normalization: bool = True
    patch_size: int = 16
    num_target_blocks: int = 4
    target_scale: Range = (0.15, 0.2)
    target_aspect_ratio: Range = (0.75, 1.5)
    num_context_blocks: int = 1
    context_scale: Range = (0.85, 1.0)
    min_keep: int = 10
    allow_overlap: bool = False
    time_stripe_scale: Range = (0.15, 0.2)
    frequency_band_scale: Range = (0.125, 0.125)
    time_stripe_prob: float = 0.5
    curriculum_schedule: str = "linear"
    curriculum_start: float = 0.0
    curriculum_end: float = 1.0
    curriculum_final_prob: float = 1.0
    finetune_mask_ratio: float = 0.3

    def __post_init__(self, **kwargs):
        for name, size in (("target_length", self.target_length), ("num_mel_bins", self.num_mel_bins)):
            if size % self.patch_size:
                raise ConfigFieldError(
                    f"{name}={size} is not a multiple of patch_size={self.patch_size}",
                    name,
                    self.patch_size * max(1, size // self.patch_size),
                )
        if self.curriculum_schedule not in SCHEDULES:
            raise ValueError(f"curriculum_schedule must be one of {SCHEDULES}, got {self.curriculum_schedule!r}")
        if not 0 <= self.curriculum_start <= self.curriculum_end <= 1:
            raise ValueError(
                f"need 0 <= curriculum_start <= curriculum_end <= 1, got {self.curriculum_start}, {self.curriculum_end}"
            )
        for name in ("curriculum_final_prob", "time_stripe_prob", "finetune_mask_ratio"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.fbank_std <= 0:
            raise ValueError(f"fbank_std must be positive, got {self.fbank_std}")
        super().__post_init__(**kwargs)

    @property
    def grid_size(self) -> tuple[int, int]:
        """Patch grid (time patches, frequency patches)."""
        return self.target_length // self.patch_size, self.num_mel_bins // self.patch_size
