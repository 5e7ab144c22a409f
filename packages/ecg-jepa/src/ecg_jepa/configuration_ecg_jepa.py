"""ECG-JEPA configuration: every hyper-parameter of Weimann & Conrad (arXiv 2410.13867), paper values by default."""

from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

_XS = dict(hidden_size=192, num_hidden_layers=8, num_attention_heads=4)
_XS.update(pred_hidden_size=96, pred_num_hidden_layers=8, pred_num_attention_heads=4, train_batch_size=2048)
_S = dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6)
_S.update(pred_hidden_size=192, pred_num_hidden_layers=8, pred_num_attention_heads=6, train_batch_size=2048)
_B = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12)
_B.update(pred_hidden_size=384, pred_num_hidden_layers=12, pred_num_attention_heads=12, train_batch_size=1024)
_TINY = dict(
    hidden_size=64, num_hidden_layers=3, num_attention_heads=4, pred_hidden_size=32, pred_num_hidden_layers=2,
    pred_num_attention_heads=4, signal_length=1250, train_batch_size=32, max_steps=300, learning_rate=2e-3,
    start_learning_rate=1e-4, final_learning_rate=1e-5, warmup_ratio=0.1, ema_momentum_start=0.99,
    ema_momentum_end=0.999, weight_decay=0.01, final_weight_decay=0.05,
)  # fmt: skip


@strict
class EcgJepaConfig(JepaConfig):
    """ViT over 12-lead ECG: one token per `patch_size`-sample time patch with all leads fused.

    Defaults are the paper's ViT-S pretraining run (10 s at 500 Hz = 200 tokens, one register token, no biases,
    L1 loss on the EMA target encoder's output, EMA 0.998 → 0.9995, keep ratio 0.15–0.25 drawn once per batch,
    masked runs ≥ 10 patches). Presets: `XS`, `S`, `B` (the paper's ViTs) and `tiny` (2.5-s crops, CPU demo).
    `train_batch_size` of `B` is the paper's 512 × 2 accumulation steps.
    """

    model_type = "jepa_ecg"
    presets = {"XS": _XS, "S": _S, "B": _B, "tiny": _TINY}

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

    @property
    def num_patches(self) -> int:
        return self.signal_length // self.patch_size
