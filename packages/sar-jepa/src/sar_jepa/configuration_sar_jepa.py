"""SAR-JEPA configuration: ViT encoder on 1-channel SAR, local-window masking, multi-scale gradient targets."""

from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig

Range = tuple[float, float] | list[float]
Scales = tuple[int, ...] | list[int]
POSITION_ENCODINGS = ("relative", "absolute")


def _vit(width: int, depth: int, heads: int, patch: int = 16, **extra) -> dict:
    return dict(hidden_size=width, num_hidden_layers=depth, num_attention_heads=heads, patch_size=patch, **extra)


@strict
class SarJepaConfig(JepaConfig):
    """Every SAR-JEPA hyper-parameter (Li et al., ISPRS J. P&RS 2024, arXiv 2311.15153); defaults are the paper's.

    Encoder: ViT-B/16 on 224² single-channel amplitude, one CLS token (`num_register_tokens=1`), positions
    through an iRPE-style contextual relative bias on keys (`position_encoding="relative"`, piecewise buckets
    with `relative_position_ratio`) or fixed 2-D sin-cos (`"absolute"`). Masking: `num_windows` windows of
    `window_size`² patches, `window_mask_ratio` of each replaced by a learned mask token. Predictor ("decoder"):
    512 wide, 8 blocks, 16 heads, regressing the multi-scale gradient-by-ratio maps (half-widths
    `gradient_scales`, `gradient_offset` added before the log) with MSE on masked tokens. Optimisation:
    AdamW (β 0.9, 0.95), lr 1e-3·300/256, wd 0.05, 20/300 warm-up, cosine to 0, batch 300. Few-shot fine-tuning
    (`finetune_*`): AdamW lr 1e-3, wd 5e-4, batch 50, 40 epochs, the first 2 at a constant 1e-5, cosine.
    """

    model_type = "jepa_sar"
    presets = {
        "tiny": _vit(
            64, 4, 4, 4, image_size=32, window_size=4, gradient_scales=(1, 2, 3, 5), pred_hidden_size=64,
            pred_num_hidden_layers=2, pred_num_attention_heads=4, train_batch_size=32, max_steps=600,
            learning_rate=1.5e-3, warmup_ratio=0.05,
        ),
        "vit_tiny_16": _vit(192, 12, 3),
        "vit_small_16": _vit(384, 12, 6),
        "vit_base_16": _vit(768, 12, 12),
        "vit_large_16": _vit(1024, 24, 16),
        "vit_huge_16": _vit(1280, 32, 16),
    }  # fmt: skip

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    pred_hidden_size: int = 512
    pred_num_hidden_layers: int = 8
    pred_num_attention_heads: int | None = 16
    num_register_tokens: int = 1
    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 1
    gradient_scales: Scales = (5, 9, 13, 17)
    gradient_offset: float = 0.01
    num_windows: int = 4
    window_size: int = 7
    window_mask_ratio: float = 0.8
    position_encoding: str = "relative"
    relative_position_ratio: float = 1.9
    crop_scale: Range = (0.2, 1.0)
    contrast_jitter: float = 0.5
    horizontal_flip: bool = True
    loss_type: str = "mse"
    normalize_targets: bool = False
    learning_rate: float = 1e-3 * 300 / 256
    start_learning_rate: float = 0.0
    final_learning_rate: float = 0.0
    warmup_ratio: float = 20 / 300
    weight_decay: float = 0.05
    adam_beta2: float = 0.95
    final_weight_decay: float = 0.05
    train_batch_size: int = 300
    max_steps: int = 94_800
    ema_momentum_start: float = 1.0
    # SIGReg (objective="sigreg") on every patch state: 40-shot accuracy 0.549 vs 0.299 pooled (tiny, 600 steps,
    # seeds 0 and 1; experiments/sigreg/README.md)
    sigreg_embeddings: str = "tokens"
    finetune_learning_rate: float = 1e-3
    finetune_weight_decay: float = 5e-4
    finetune_epochs: int = 40
    finetune_warmup_epochs: int = 2
    finetune_warmup_learning_rate: float = 1e-5
    finetune_batch_size: int = 50
    # the user's GeoTIFFs (`--set FIELD=VALUE`): what the pixels are ("auto": read from the file's tags/band
    # descriptions, or decibels when values are negative; never guessed otherwise), and the stride of the chips
    # cut from scenes larger than image_size (None: image_size)
    input_kind: str = "auto"
    chip_stride: int | None = None

    def __post_init__(self, **kwargs):
        if self.input_kind not in ("auto", "intensity", "amplitude", "db", "complex"):
            raise ValueError(
                f"input_kind must be one of auto, intensity, amplitude, db, complex; got {self.input_kind!r}"
            )
        if self.chip_stride is not None and self.chip_stride < 1:
            raise ValueError(f"chip_stride must be at least 1 pixel, got {self.chip_stride}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by patch_size {self.patch_size}; "
                f"use a multiple of the patch, e.g. {self.patch_size * max(1, self.image_size // self.patch_size)}"
            )
        grid = self.image_size // self.patch_size
        if not 1 <= self.window_size <= grid or grid - self.window_size + 1 < self.num_windows:
            raise ValueError(
                f"{self.num_windows} windows of {self.window_size}×{self.window_size} patches need distinct "
                f"positions on the {grid}×{grid} patch grid; lower window_size or num_windows"
            )
        if not 1 <= self.num_masked_per_window < self.window_size**2:
            raise ValueError(
                f"window_mask_ratio {self.window_mask_ratio} masks {self.num_masked_per_window} of "
                f"{self.window_size**2} window tokens; it must mask at least one and keep at least one"
            )
        if not self.gradient_scales or min(self.gradient_scales) < 1 or max(self.gradient_scales) >= self.image_size:
            raise ValueError(
                f"gradient_scales {tuple(self.gradient_scales)} must be half-widths >= 1 and smaller than "
                f"image_size {self.image_size} (the image is reflect-padded by each half-width)"
            )
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(f"position_encoding must be one of {POSITION_ENCODINGS}, got {self.position_encoding!r}")
        if self.num_register_tokens < 1:
            raise ValueError("SAR-JEPA needs its CLS token: num_register_tokens must be >= 1")
        super().__post_init__(**kwargs)

    @property
    def grid_size(self) -> int:
        """Patches per side of the (square) patch grid."""
        return self.image_size // self.patch_size

    @property
    def num_masked_per_window(self) -> int:
        return int(self.window_size**2 * self.window_mask_ratio)

    @property
    def target_dim(self) -> int:
        """Gradient features per patch: channels × scales × patch pixels (1024 for the paper)."""
        return self.num_channels * len(self.gradient_scales) * self.patch_size**2
