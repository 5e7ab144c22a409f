"""ECG-JEPA configuration: every hyper-parameter of Weimann & Conrad (arXiv 2410.13867), paper values by default,
and presets of Kim et al.'s per-lead variant with cross-pattern attention (arXiv 2410.08559)."""

from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig

from .masking_ecg_jepa import check_mask_sizes

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
PER_LEAD_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # Kim et al. drop the derivable limb leads
TOKENIZATIONS = ("fused", "per_lead")
MASK_STRATEGIES = ("runs", "block", "random")

_XS = dict(hidden_size=192, num_hidden_layers=8, num_attention_heads=4)
_XS.update(pred_hidden_size=96, pred_num_hidden_layers=8, pred_num_attention_heads=4, train_batch_size=2048)
_S = dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6)
_S.update(pred_hidden_size=192, pred_num_hidden_layers=8, pred_num_attention_heads=6, train_batch_size=2048)
_B = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12)
_B.update(pred_hidden_size=384, pred_num_hidden_layers=12, pred_num_attention_heads=12, train_batch_size=1024)
_TINY = dict(
    hidden_size=64, num_hidden_layers=3, num_attention_heads=4, pred_hidden_size=32, pred_num_hidden_layers=2,
    pred_num_attention_heads=4, signal_length=1250, train_batch_size=32, max_steps=300, learning_rate=2e-3,
    start_learning_rate=1e-4, final_learning_rate=1e-5, warmup_ratio=0.1, ema_momentum_start=0.998,
    ema_momentum_end=0.9995, weight_decay=0.01, final_weight_decay=0.05,
)  # fmt: skip
# Kim et al. (`sehunfromdaegu/ECG_JEPA`): 8 leads × 2500 samples (10 s at 250 Hz), 50-sample per-lead patches,
# CroPA, ViT-B with 16 heads, predictor 384/6/12; SmoothL1 on layer-normed targets, EMA 0.996 → 1.0; AdamW wd 0.05,
# cosine LR from 1e-6 over 5 warm-up epochs of 100 to 1e-6. max_steps = 100 epochs × ⌈180k records / batch⌉.
_PER_LEAD = dict(
    tokenization="per_lead", num_leads=8, lead_names=list(PER_LEAD_LEADS), sampling_rate=250, signal_length=2500,
    patch_size=50, num_register_tokens=0, qkv_bias=False, use_bias=True, layer_norm_eps=1e-5, loss_type="smooth_l1",
    normalize_targets=True, ema_momentum_start=0.996, ema_momentum_end=1.0, mask_strategy="block",
    start_learning_rate=1e-6, final_learning_rate=1e-6, warmup_ratio=0.05, weight_decay=0.05,
    final_weight_decay=0.05, adam_beta2=0.999, adam_epsilon=1e-8, eval_crop_length=2500, eval_crop_stride=1250,
)  # fmt: skip
_PER_LEAD_B = dict(
    _PER_LEAD, hidden_size=768, num_hidden_layers=12, num_attention_heads=16, pred_hidden_size=384,
    pred_num_hidden_layers=6, pred_num_attention_heads=12, drop_path_rate=0.1, learning_rate=5e-5,
    train_batch_size=64, max_steps=281_300,
)  # fmt: skip
_PER_LEAD_B_RANDOM = dict(
    _PER_LEAD_B, mask_strategy="random", learning_rate=2.5e-5, train_batch_size=128, max_steps=140_700
)
_TINY_PER_LEAD = dict(
    _PER_LEAD, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, pred_hidden_size=32,
    pred_num_hidden_layers=2, pred_num_attention_heads=4, signal_length=1250, eval_crop_length=1250,
    eval_crop_stride=625, train_batch_size=32, max_steps=300, learning_rate=5e-4, start_learning_rate=1e-4,
    final_learning_rate=1e-5, warmup_ratio=0.1,
)  # fmt: skip


@strict
class EcgJepaConfig(JepaConfig):
    """ViT over 12-lead ECG: one token per `patch_size`-sample time patch with all leads fused.

    Defaults are the paper's ViT-S pretraining run (10 s at 500 Hz = 200 tokens, one register token, no biases,
    L1 loss on the EMA target encoder's output, EMA 0.998 → 0.9995, keep ratio 0.15–0.25 drawn once per batch,
    masked runs ≥ 10 patches). Presets: `XS`, `S`, `B` (the paper's ViTs) and `tiny` (2.5-s crops, CPU demo).
    `train_batch_size` of `B` is the paper's 512 × 2 accumulation steps.

    `tokenization="per_lead"` is Kim et al.'s variant: one token per lead and `patch_size`-sample time patch
    (lead-major order), 2-D sin-cos over (lead, time) added before every block, cross-pattern attention (a token
    attends to tokens of its own lead or its own time patch; `cross_pattern_attention=False` gives full attention),
    no register token, a per-lead predictor. Presets `per_lead_B` (multi-block masks), `per_lead_B_random` and
    `tiny_per_lead` (5-s crops at 250 Hz, CPU). `mask_strategy`: `"runs"` (Weimann & Conrad: per-sample masked
    runs of ≥ `min_block_size` patches keeping `keep_ratio_*`), `"block"` (union of `num_mask_blocks` blocks of
    ⌊P·U(block_mask_scale_*)⌋ patches) or `"random"` (⌊P·U(random_mask_ratio_*)⌋ random patches); `block` and
    `random` draw one time mask per batch, as Kim et al.
    """

    model_type = "jepa_ecg"
    presets = {
        "XS": _XS, "S": _S, "B": _B, "tiny": _TINY,
        "per_lead_B": _PER_LEAD_B, "per_lead_B_random": _PER_LEAD_B_RANDOM, "tiny_per_lead": _TINY_PER_LEAD,
    }  # fmt: skip

    num_leads: int = 12
    lead_names: list[str] | None = None
    sampling_rate: int = 500
    signal_length: int = 5000
    patch_size: int = 25
    hidden_size: int = 384
    num_hidden_layers: int = 8
    num_attention_heads: int = 6
    pred_hidden_size: int = 192
    pred_num_hidden_layers: int = 8
    pred_num_attention_heads: int | None = 6
    qkv_bias: bool = False
    use_bias: bool = False
    num_register_tokens: int = 1
    keep_ratio_min: float = 0.15
    keep_ratio_max: float = 0.25
    min_block_size: int = 10
    loss_type: str = "l1"
    normalize_targets: bool = False
    ema_momentum_start: float = 0.998
    ema_momentum_end: float = 0.9995
    learning_rate: float = 1e-3
    start_learning_rate: float = 1e-6
    final_learning_rate: float = 1e-6
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    final_weight_decay: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    adam_epsilon: float = 1e-6
    train_batch_size: int = 2048
    max_steps: int = 100_000
    eval_crop_length: int = 1250
    eval_crop_stride: int = 625
    tokenization: str = "fused"
    cross_pattern_attention: bool = True
    mask_strategy: str = "runs"
    num_mask_blocks: int = 4
    block_mask_scale_min: float = 0.175
    block_mask_scale_max: float = 0.225
    random_mask_ratio_min: float = 0.6
    random_mask_ratio_max: float = 0.7

    def __post_init__(self, **kwargs):
        if self.lead_names is None:
            self.lead_names = list(STANDARD_LEADS)
        super().__post_init__(**kwargs)

    def validate_ecg(self) -> None:
        """Raise a clear error for inconsistent sizes (called by the model)."""
        if len(self.lead_names) != self.num_leads:
            raise ValueError(f"lead_names has {len(self.lead_names)} names but num_leads is {self.num_leads}")
        for name, length in [("signal_length", self.signal_length), ("eval_crop_length", self.eval_crop_length)]:
            if length % self.patch_size or length < self.patch_size:
                raise ValueError(f"{name}={length} must be a positive multiple of patch_size={self.patch_size}")
        if self.eval_crop_length > self.signal_length:
            raise ValueError(
                f"eval_crop_length={self.eval_crop_length} exceeds signal_length={self.signal_length}, the longest "
                "input the positional table covers"
            )
        if not 0 < self.keep_ratio_min <= self.keep_ratio_max < 1:
            raise ValueError(f"need 0 < keep_ratio_min <= keep_ratio_max < 1, got {self.keep_ratio_min}, "
                             f"{self.keep_ratio_max}")  # fmt: skip
        if self.tokenization not in TOKENIZATIONS:
            raise ValueError(f"tokenization must be one of {TOKENIZATIONS}, got {self.tokenization!r}")
        if self.mask_strategy not in MASK_STRATEGIES:
            raise ValueError(f"mask_strategy must be one of {MASK_STRATEGIES}, got {self.mask_strategy!r}")
        if self.mask_strategy != "runs":
            scale = (self.block_mask_scale_min, self.block_mask_scale_max)
            ratio = (self.random_mask_ratio_min, self.random_mask_ratio_max)
            for name, (low, high) in [("block_mask_scale", scale), ("random_mask_ratio", ratio)]:
                if not 0 < low <= high < 1:
                    raise ValueError(f"need 0 < {name}_min <= {name}_max < 1, got {low}, {high}")
            check_mask_sizes(self.mask_strategy, self.num_patches, self.num_mask_blocks, scale, ratio)
        if self.tokenization == "per_lead":
            self._validate_per_lead()

    def _validate_per_lead(self) -> None:
        known = {name.lower() for name in STANDARD_LEADS}
        names = [name.lower() for name in self.lead_names]
        if len(set(names)) != len(names) or not set(names) <= known:
            raise ValueError(f"per-lead positions need distinct standard lead names ({', '.join(STANDARD_LEADS)}), "
                             f"got {self.lead_names}")  # fmt: skip
        if self.hidden_size % 4 or self.pred_hidden_size % 2:
            raise ValueError(
                f"per-lead 2-D sin-cos positions need hidden_size divisible by 4 (got {self.hidden_size}) and an even "
                f"pred_hidden_size (got {self.pred_hidden_size})"
            )
        if self.num_register_tokens:
            raise ValueError(f"tokenization='per_lead' has no register tokens (got num_register_tokens="
                             f"{self.num_register_tokens}); set it to 0")  # fmt: skip

    @property
    def num_patches(self) -> int:
        """Time patches of a `signal_length` input (per lead, for `tokenization="per_lead"`)."""
        return self.signal_length // self.patch_size
