"""Brain-JEPA configuration: ROI × time-patch tokens, brain gradient positioning, spatiotemporal masks, recipe."""

from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig

Range = tuple[float, float] | list[float]


def _vit(width: int, depth: int, heads: int, pred_width: int, pred_depth: int, **extra) -> dict:
    return dict(
        hidden_size=width, num_hidden_layers=depth, num_attention_heads=heads, pred_hidden_size=pred_width,
        pred_num_hidden_layers=pred_depth, **extra,
    )  # fmt: skip


@strict
class BrainJepaConfig(JepaConfig):
    """Every Brain-JEPA hyper-parameter (Dong et al., NeurIPS 2024); defaults are the paper's ViT-B recipe.

    Input: `num_rois` ROI time series of `num_frames` frames, cut into patches of `patch_size` frames per ROI
    (450 ROIs × 160 frames / 16 = 4500 tokens, ROI-major: token = roi · num_time_patches + time_patch).
    Positions: half the width is a fixed time sin-cos, half a trainable linear map of the ROI's
    `gradient_components` functional-connectivity gradients (diffusion map, α = `gradient_alpha`).
    Masks (Table 6 of the paper): an observation block of `observation_roi_scale` ROIs × `observation_time_scale`
    time patches; a Cross-ROI (α) target; Cross-Time (β) and Double-Cross (γ) targets on the time edges.
    """

    model_type = "jepa_brain"
    presets = {
        # tiny: 300 steps (probe margin over random init +0.08-0.10 over 3 seeds, +0.055 at 150 steps); peak LR
        # 5e-4 (3x lower than 1.5e-3, as I-JEPA's tiny) and the paper's EMA 0.996; a 1-layer predictor, so that the
        # encoder does the work (see the README)
        "tiny": _vit(
            96, 3, 4, 48, 1, num_rois=31, num_frames=96, gradient_components=8, train_batch_size=32,
            max_steps=300, learning_rate=5e-4, start_learning_rate=1e-4, warmup_ratio=0.1,
            model_repetition_time=1.89, objective="sigreg",  # LeJEPA: probe 0.77 vs EMA 0.57 over 3 seeds
        ),
        "vit_small": _vit(384, 12, 6, 192, 6),
        "vit_base": _vit(768, 12, 12, 384, 6),
        "vit_large": _vit(1024, 24, 16, 384, 12),
    }  # fmt: skip

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    pred_hidden_size: int = 384
    pred_num_hidden_layers: int = 6
    num_rois: int = 450
    num_frames: int = 160
    patch_size: int = 16
    gradient_components: int = 30
    gradient_alpha: float = 0.5
    gradient_sparsity: float = 0.9
    learning_rate: float = 1e-3
    start_learning_rate: float = 5e-5
    train_batch_size: int = 512
    observation_roi_scale: Range = (0.84, 1.0)
    observation_time_scale: Range = (0.84, 1.0)
    cross_roi_roi_scale: Range = (0.45, 0.6)
    cross_roi_time_scale: Range = (0.2, 0.6)
    cross_time_roi_scale: Range = (0.15, 0.3)
    cross_time_time_scale: Range = (0.0, 0.4)
    cross_time_edge_ratio: float = 0.3
    min_keep: int = 4
    mask_equalize: str = "truncate"
    classifier_dropout: float = 0.0
    # SIGReg (objective="sigreg") on every ROI-time token: probe 0.785 vs 0.734 pooled at 1200 tiny steps (pooled
    # probes worse with longer runs), 0.768 vs 0.773 at 300; of the context encoder's tokens as well as of the full
    # input's (0.760 and 0.785 at 300 and 1200 steps) at 0.90x an EMA step's rate instead of 0.34x; 3 seeds
    # (experiments/sigreg/README.md)
    sigreg_embeddings: str = "tokens"
    sigreg_view: str = "context"
    # the user's data (`--set FIELD=VALUE`): the TR of the files when no sidecar/header gives it (seconds), the
    # TR of the model's frames (every series is resampled to it; the paper's UKB 0.735 s × stride 3), the axis
    # order of the files, the stride of evaluation windows (frames; None: num_frames, non-overlapping)
    repetition_time: float | None = None
    model_repetition_time: float = 2.205
    layout: str = "auto"
    window_stride: int | None = None
    # where the brain gradients come from (set by `prepare_model`) and the parcellation's name (`--set`)
    gradient_source: str = "embedded synthetic cohort (31 ROIs)"
    parcellation: str = ""

    def __post_init__(self, **kwargs):
        if self.num_frames % self.patch_size:
            raise ValueError(
                f"num_frames {self.num_frames} is not a multiple of patch_size {self.patch_size}; "
                f"use e.g. num_frames={self.patch_size * max(1, self.num_frames // self.patch_size)}"
            )
        if self.hidden_size % 4 or self.pred_hidden_size % 4:
            raise ValueError(
                "hidden_size and pred_hidden_size must be multiples of 4 (half the width is a time sin-cos, "
                f"half the gradient map), got {self.hidden_size} and {self.pred_hidden_size}"
            )
        if self.num_rois < 2 or self.gradient_components >= self.num_rois:
            raise ValueError(
                f"{self.num_rois} ROIs give at most {self.num_rois - 1} gradients, but gradient_components="
                f"{self.gradient_components}; lower gradient_components"
            )
        if self.layout not in ("auto", "roi_time", "time_roi"):
            raise ValueError(f"layout must be 'auto', 'roi_time' or 'time_roi', got {self.layout!r}")
        if self.repetition_time is not None and not self.repetition_time > 0:
            raise ValueError(f"repetition_time must be positive (seconds), got {self.repetition_time}")
        if not self.model_repetition_time > 0:
            raise ValueError(f"model_repetition_time must be positive (seconds), got {self.model_repetition_time}")
        if self.window_stride is not None and self.window_stride < 1:
            raise ValueError(f"window_stride must be at least 1 frame, got {self.window_stride}")
        if self.mask_equalize not in ("truncate", "random"):
            raise ValueError(f"mask_equalize must be 'truncate' or 'random', got {self.mask_equalize!r}")
        super().__post_init__(**kwargs)

    @property
    def num_time_patches(self) -> int:
        return self.num_frames // self.patch_size

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Token grid (ROIs, time patches)."""
        return self.num_rois, self.num_time_patches
