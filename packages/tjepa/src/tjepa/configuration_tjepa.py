"""T-JEPA configuration: feature tokenizer, [REG] tokens, encoder, predictor, feature-subset masks, recipe."""

from huggingface_hub.dataclasses import strict
from jepa_core.modeling_utils import JepaConfig
from jepa_core.overrides import ConfigFieldError

Range = tuple[float, float] | list[float]
POOLS = ("flatten", "mean", "register")
TABLE_OPTIONS = (  # (field, allowed values, the value a ConfigFieldError suggests)
    ("task", (None, "classification", "regression"), "classification"),
    ("missing_values", ("impute", "error"), "impute"),
    ("unknown_categories", ("bucket", "error"), "bucket"),
    ("scaling", ("quantile", "standard"), "quantile"),
)


@strict
class TabularJepaConfig(JepaConfig):
    """Every T-JEPA hyper-parameter (Thimonier et al., ICLR 2025); defaults are the paper's Jannis launch.

    The feature schema (`num_numerical_features`, `categorical_cardinalities`, each cardinality counting the
    unknown bucket 0) comes from a fitted `TabularJepaProcessor` (`processor.config_overrides()`); the
    defaults fit the embedded breast_cancer table (30 numerical features). Tokens are one per feature
    (numerical first, then categorical) after `num_register_tokens` [REG] tokens; fixed sin-cos positions
    with base `position_embedding_base` (100, as the reference) over the token index. Masks: one context
    subset of `context_share` × D features and `num_target_subsets` target subsets of `target_share` × D
    features drawn from the features outside the context. Loss: MSE on the EMA target encoder's outputs.
    How the processor reads the user's table (CLI `--set`): `target_column` (default: a column named
    `target`/`label`/`class`/`y`), `id_columns` (default: found, see the processor),
    `categorical_columns` (default: the non-numeric columns), `task` (default: inferred from the target),
    `missing_values` ("impute", the default: training median / unknown bucket with a warning listing the counts;
    "error"), `unknown_categories` ("bucket" or "error"), `scaling` ("quantile" or "standard").
    `probe_pool` picks the frozen representation for downstream models: "flatten" (the paper's: all
    [REG] + feature tokens concatenated), "mean" (mean feature token) or "register" (mean [REG] token).
    """

    model_type = "jepa_tjepa"
    presets = {
        "tiny": dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2.0, pred_hidden_size=16,
            pred_num_hidden_layers=2, pred_num_attention_heads=2, train_batch_size=64, max_steps=300,
            learning_rate=1e-3, warmup_ratio=0.1,
        ),
        "small": dict(
            num_hidden_layers=4, pred_num_hidden_layers=4, train_batch_size=128, max_steps=2000,
            learning_rate=5e-4, warmup_ratio=0.05,
        ),
        "paper": {},
    }  # fmt: skip

    num_numerical_features: int = 30
    categorical_cardinalities: list[int] | None = None
    num_register_tokens: int = 1
    hidden_size: int = 64
    num_hidden_layers: int = 16
    num_attention_heads: int = 2
    mlp_ratio: float = 1.0
    hidden_dropout_prob: float = 0.0019
    position_embedding_base: float = 100.0
    pred_hidden_size: int = 16
    pred_num_hidden_layers: int = 16
    pred_num_attention_heads: int | None = 4
    loss_type: str = "l2"
    normalize_targets: bool = False
    learning_rate: float = 3.66e-4
    start_learning_rate: float = 0.0
    final_learning_rate: float = 0.0
    warmup_ratio: float = 10 / 300
    weight_decay: float = 0.0
    final_weight_decay: float = 0.0
    train_batch_size: int = 512
    max_steps: int = 49_200
    context_share: Range = (0.136, 0.368)
    target_share: Range = (0.156, 0.622)
    num_target_subsets: int = 4
    probe_pool: str = "flatten"
    target_column: str | None = None
    id_columns: list[str] | None = None
    categorical_columns: list[str] | None = None
    task: str | None = None
    missing_values: str = "impute"
    unknown_categories: str = "bucket"
    scaling: str = "quantile"

    def __post_init__(self, **kwargs):
        if self.categorical_cardinalities is None:
            self.categorical_cardinalities = []
        self.categorical_cardinalities = [int(c) for c in self.categorical_cardinalities]
        if self.num_numerical_features < 0 or any(c < 2 for c in self.categorical_cardinalities):
            raise ValueError(
                "num_numerical_features must be >= 0 and every categorical cardinality >= 2 (unknown bucket + "
                f"one category); got {self.num_numerical_features} and {self.categorical_cardinalities}"
            )
        if self.num_features < 2:
            raise ValueError(f"T-JEPA needs at least 2 features to mask, the config has {self.num_features}")
        if self.hidden_size % 2 or self.pred_hidden_size % 2:
            raise ValueError("hidden_size and pred_hidden_size must be even for the sin-cos positions")
        for name in ("context_share", "target_share"):
            low, high = getattr(self, name)
            if not 0 < low <= high <= 1:
                raise ValueError(f"{name} must satisfy 0 < min <= max <= 1, got {getattr(self, name)}")
        if self.context_share[0] + self.target_share[0] > 1:
            low = round(1 - self.context_share[0], 3)
            raise ConfigFieldError(
                f"the minimum context and target shares ({self.context_share[0]} + {self.target_share[0]}) add up to "
                "more than all features",
                "target_share",
                [low, max(low, min(self.target_share[1], 1 - self.context_share[0]))],
            )
        if self.probe_pool not in POOLS:
            raise ConfigFieldError(
                f"probe_pool must be one of {POOLS}, got {self.probe_pool!r}", "probe_pool", "flatten"
            )
        for name, allowed, fix in TABLE_OPTIONS:
            if getattr(self, name) not in allowed:
                raise ConfigFieldError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}", name, fix)
        if self.num_register_tokens < 0:
            raise ValueError(f"num_register_tokens must be >= 0, got {self.num_register_tokens}")
        super().__post_init__(**kwargs)

    @property
    def num_features(self) -> int:
        """D: numerical plus categorical features (the [REG] tokens not counted)."""
        return self.num_numerical_features + len(self.categorical_cardinalities)
