"""ECG-JEPA configurations: `EcgJepaConfig`, every hyper-parameter of Weimann & Conrad (arXiv 2410.13867), paper
values by default; `EcgJepaPerLeadConfig`, Kim et al.'s per-lead variant with cross-pattern attention (arXiv
2410.08559). Both share `EcgConfigBase` (leads, sample rate, crops, masking)."""

from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig
from jepa_core.overrides import ConfigFieldError

from .masking_ecg_jepa import check_mask_sizes

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
PER_LEAD_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # Kim et al. drop the derivable limb leads
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
    objective="sigreg",  # LeJEPA on the context tokens: macro AUC 0.741 vs EMA 0.702, 3 seeds (0.819 vs 0.716 at 4x)
)  # fmt: skip
# Kim et al. (`sehunfromdaegu/ECG_JEPA`): 8 leads × 2500 samples (10 s at 250 Hz), 50-sample per-lead patches,
# CroPA, ViT-B with 16 heads, predictor 384/6/12; SmoothL1 on layer-normed targets, EMA 0.996 → 1.0; AdamW wd 0.05,
# cosine LR from 1e-6 over 5 warm-up epochs of 100 to 1e-6. max_steps = 100 epochs × ⌈180k records / batch⌉.
_PER_LEAD = dict(
    num_leads=8, lead_names=list(PER_LEAD_LEADS), sampling_rate=250, signal_length=2500,
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
    final_learning_rate=1e-5, warmup_ratio=0.1, drop_path_rate=0.0,
)  # fmt: skip


@strict
class EcgConfigBase(JepaConfig):
    """Fields and checks both ECG architectures share: leads, sample rate, input and crop lengths, masking.

    `mask_strategy`: `"runs"` (Weimann & Conrad: per-sample masked runs of ≥ `min_block_size` patches keeping
    `keep_ratio_*`), `"block"` (union of `num_mask_blocks` blocks of ⌊P·U(block_mask_scale_*)⌋ patches) or
    `"random"` (⌊P·U(random_mask_ratio_*)⌋ random patches); `block` and `random` draw one time mask per batch, as
    Kim et al.

    A user's files: `input_sampling_rate` is the rate (Hz) of files that declare none (a `.npy`, a CSV without a
    time column or `# sampling_rate=` line); a file that declares another rate is reported. `input_lead_names` names
    the rows (columns of a CSV) of files whose leads are unnamed or named otherwise (MIT-BIH's `MLII`). The model's
    `lead_names` / `num_leads` are taken from the training files by `jepa pretrain` (`ecg_jepa.domain.adapt_config`).
    """

    num_leads: int = 12
    lead_names: list[str] | None = None
    sampling_rate: int = 500
    signal_length: int = 5000
    patch_size: int = 25
    keep_ratio_min: float = 0.15
    keep_ratio_max: float = 0.25
    min_block_size: int = 10
    eval_crop_length: int = 1250
    eval_crop_stride: int = 625
    mask_strategy: str = "runs"
    num_mask_blocks: int = 4
    block_mask_scale_min: float = 0.175
    block_mask_scale_max: float = 0.225
    random_mask_ratio_min: float = 0.6
    random_mask_ratio_max: float = 0.7
    input_sampling_rate: float | None = None
    input_lead_names: list[str] | None = None

    def __post_init__(self, **kwargs):
        if self.lead_names is None:
            self.lead_names = list(STANDARD_LEADS)
        super().__post_init__(**kwargs)

    def validate_ecg(self) -> None:
        """Raise a clear error for inconsistent sizes (run by the strict dataclass at construction)."""
        if len(self.lead_names) != self.num_leads:
            raise ConfigFieldError(
                f"lead_names has {len(self.lead_names)} names but num_leads is {self.num_leads}", "num_leads",
                len(self.lead_names),
            )  # fmt: skip
        if self.input_sampling_rate is not None and not self.input_sampling_rate > 0:
            raise ConfigFieldError(f"input_sampling_rate={self.input_sampling_rate} is not a rate in Hz",
                                   "input_sampling_rate", 500)  # fmt: skip
        for name, length in [("signal_length", self.signal_length), ("eval_crop_length", self.eval_crop_length)]:
            if length % self.patch_size or length < self.patch_size:
                raise ValueError(f"{name}={length} must be a positive multiple of patch_size={self.patch_size}")
        if self.eval_crop_length > self.signal_length:
            raise ConfigFieldError(
                f"eval_crop_length={self.eval_crop_length} exceeds signal_length={self.signal_length}, the longest "
                "input the positional table covers",
                "eval_crop_length",
                self.signal_length,
            )
        if not 0 < self.keep_ratio_min <= self.keep_ratio_max < 1:
            raise ValueError(f"need 0 < keep_ratio_min <= keep_ratio_max < 1, got {self.keep_ratio_min}, "
                             f"{self.keep_ratio_max}")  # fmt: skip
        if self.mask_strategy not in MASK_STRATEGIES:
            raise ValueError(f"mask_strategy must be one of {MASK_STRATEGIES}, got {self.mask_strategy!r}")
        if self.mask_strategy != "runs":
            scale = (self.block_mask_scale_min, self.block_mask_scale_max)
            ratio = (self.random_mask_ratio_min, self.random_mask_ratio_max)
            for name, (low, high) in [("block_mask_scale", scale), ("random_mask_ratio", ratio)]:
                if not 0 < low <= high < 1:
                    raise ValueError(f"need 0 < {name}_min <= {name}_max < 1, got {low}, {high}")
            check_mask_sizes(self.mask_strategy, self.num_patches, self.num_mask_blocks, scale, ratio)

    @property
    def num_patches(self) -> int:
        """Time patches of a `signal_length` input (per lead, for the per-lead variant)."""
        return self.signal_length // self.patch_size

    @property
    def num_token_leads(self) -> int | None:
        """Tokens per time patch: None when one token fuses every lead, else the number of leads (lead-major)."""
        return None


@strict
class EcgJepaConfig(EcgConfigBase):
    """ViT over 12-lead ECG: one token per `patch_size`-sample time patch with all leads fused.

    Defaults are the paper's ViT-S pretraining run (10 s at 500 Hz = 200 tokens, one register token, no biases,
    L1 loss on the EMA target encoder's output, EMA 0.998 → 0.9995, keep ratio 0.15–0.25 drawn once per batch,
    masked runs ≥ 10 patches). Presets: `XS`, `S`, `B` (the paper's ViTs) and `tiny` (2.5-s crops, CPU demo).
    `train_batch_size` of `B` is the paper's 512 × 2 accumulation steps. Kim et al.'s per-lead variant is
    `EcgJepaPerLeadConfig`.
    """

    model_type = "jepa_ecg"
    presets = {"XS": _XS, "S": _S, "B": _B, "tiny": _TINY}

    hidden_size: int = 384
    num_hidden_layers: int = 8
    num_attention_heads: int = 6
    pred_hidden_size: int = 192
    pred_num_hidden_layers: int = 8
    pred_num_attention_heads: int | None = 6
    qkv_bias: bool = False
    use_bias: bool = False
    num_register_tokens: int = 1
    loss_type: str = "l1"
    normalize_targets: bool = False
    ema_momentum_start: float = 0.998
    ema_momentum_end: float = 0.9995
    # SIGReg (objective="sigreg") on every lead-patch token: macro AUC 0.795 vs 0.712 pooled at 1200 tiny steps,
    # 0.703 vs 0.694 at 300; of the context encoder's tokens, at 0.84x an EMA step's rate instead of 0.46x: 0.741
    # and 0.819 at 300 and 1200 steps vs 0.723 and 0.793 of the full input's, 3 seeds (experiments/sigreg/README.md)
    sigreg_embeddings: str = "tokens"
    sigreg_view: str = "context"
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

    def __post_init__(self, **kwargs):
        if kwargs.get("tokenization", "fused") != "fused":
            raise ValueError(
                f"tokenization={kwargs['tokenization']!r}: the per-lead variant is its own class now; load it with "
                "EcgJepaPerLeadConfig (model_type 'jepa_ecg_per_lead': edit config.json of an older run)"
            )
        kwargs.pop("tokenization", None)
        super().__post_init__(**kwargs)


@strict
class EcgJepaPerLeadConfig(EcgConfigBase):
    """Kim et al.'s per-lead ECG-JEPA: one token per lead and `patch_size`-sample time patch (lead-major order),
    2-D sin-cos over (lead, time) added before every block, cross-pattern attention (a token attends to tokens of
    its own lead or its own time patch; `cross_pattern_attention=False` gives full attention), no register token, a
    per-lead predictor. Presets `per_lead_B` (multi-block masks), `per_lead_B_random` and `tiny_per_lead` (5-s crops
    at 250 Hz, CPU). Defaults are `per_lead_B`'s.
    """

    model_type = "jepa_ecg_per_lead"
    presets = {"per_lead_B": _PER_LEAD_B, "per_lead_B_random": _PER_LEAD_B_RANDOM, "tiny_per_lead": _TINY_PER_LEAD}

    num_leads: int = 8
    lead_names: list[str] | None = None
    sampling_rate: int = 250
    signal_length: int = 2500
    patch_size: int = 50
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 16
    pred_hidden_size: int = 384
    pred_num_hidden_layers: int = 6
    pred_num_attention_heads: int | None = 12
    qkv_bias: bool = False
    use_bias: bool = True
    drop_path_rate: float = 0.1
    layer_norm_eps: float = 1e-5
    num_register_tokens: int = 0
    loss_type: str = "smooth_l1"
    normalize_targets: bool = True
    ema_momentum_start: float = 0.996
    ema_momentum_end: float = 1.0
    learning_rate: float = 5e-5
    start_learning_rate: float = 1e-6
    final_learning_rate: float = 1e-6
    warmup_ratio: float = 0.05
    weight_decay: float = 0.05
    final_weight_decay: float = 0.05
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    train_batch_size: int = 64
    max_steps: int = 281_300
    eval_crop_length: int = 2500
    eval_crop_stride: int = 1250
    mask_strategy: str = "block"
    cross_pattern_attention: bool = True

    def __post_init__(self, **kwargs):
        if self.lead_names is None:
            self.lead_names = list(PER_LEAD_LEADS)
        kwargs.pop("tokenization", None)  # written by versions that had one class for both variants
        super().__post_init__(**kwargs)

    def validate_per_lead(self) -> None:
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
            raise ValueError(f"the per-lead variant has no register tokens (got num_register_tokens="
                             f"{self.num_register_tokens}); set it to 0")  # fmt: skip

    @property
    def num_token_leads(self) -> int:
        return self.num_leads
