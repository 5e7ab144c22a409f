"""Table → tensors with state fitted on the training rows, saved next to the model as `preprocessor_config.json`.

`TabularJepaProcessor` is a transformers `FeatureExtractionMixin`: its fitted state (column schema, quantiles,
vocabularies, classes, task) is plain attributes, saved as JSON and read back by `from_pretrained` or, after
`import tjepa`, by `AutoProcessor` / `AutoFeatureExtractor`.

Policies (each a clear error or a documented behaviour):
- numerical columns: `scaling="quantile"` (to a standard normal through the training quantiles, as
  scikit-learn's `QuantileTransformer(output_distribution="normal")`) or `"standard"` (training mean/std);
- categorical columns: vocabulary of the training values; code 0 is the unknown bucket, which takes unseen
  values (`unknown_categories="bucket"`) unless `unknown_categories="error"`;
- missing values (NaN/None): `missing_values="error"` raises; `"impute"` uses the training median (numerical)
  or the unknown bucket (categorical); ±inf in a numerical column always raises;
- text in a numerical column raises (at fit when a text column looks numerical, at transform always);
- constant or entirely empty columns (≤ 1 distinct value in training) are dropped at fit, with a warning;
- identifier columns are excluded from the features (`id_columns`, or found at fit: a column named like an id
  — `id`, `*_id`, `Unnamed: 0` … — or a text column, whose values are all distinct); they give the rows' ids;
- at transform a missing column raises; extra columns are ignored with a warning; an empty table raises.
"""

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from jepa_core.overrides import ConfigFieldError
from scipy.special import ndtri
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin

MODEL_INPUTS = ("numerical_features", "categorical_features")
TARGET_NAMES = ("target", "label", "labels", "class", "y")
ID_NAMES = ("id", "ids", "index", "row_id", "rowid", "sample_id", "uid", "uuid", "key")
QUANTILE_BOUND = 1e-7
MAX_CLASSES_FOR_INTEGER_TARGET = 20
MIN_ROWS_FOR_TEXT_ID = 20  # a text column all of whose values differ is an identifier from this many rows


def read_table(source: Any) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a CSV / Parquet file, a `datasets.Dataset` or a `save_to_disk` folder."""
    if isinstance(source, pd.DataFrame):
        return source
    if hasattr(source, "to_pandas") and hasattr(source, "column_names"):
        frame = source.to_pandas()  # a pandas index saved by Dataset.from_pandas is not a feature
        return frame.drop(columns=[c for c in frame.columns if str(c).startswith("__index_level_")])
    if isinstance(source, dict) and source and all(hasattr(v, "to_pandas") for v in source.values()):
        raise ValueError(f"got a DatasetDict with splits {list(source)}; pass one split, e.g. data['train']")
    if isinstance(source, dict):  # one row {column: value}, or columns {column: [values]}
        one_row = all(np.ndim(v) == 0 for v in source.values())
        return pd.DataFrame([source] if one_row else source)
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"no table at {path}; pass a .csv, .parquet or a datasets save_to_disk folder")
        if path.is_dir():
            import datasets

            return read_table(datasets.load_from_disk(str(path)))
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        raise ValueError(f"unsupported table format {path.suffix!r} for {path}; use .csv, .tsv or .parquet")
    raise TypeError(f"cannot read a table from {type(source).__name__}; pass a DataFrame, a path or a Dataset")


def _text_values(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers, non-missing entries that are not numbers)."""
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers, column[numbers.isna() & column.notna()]


def find_target(columns: list, target_column: str | None) -> str | None:
    """The target column: the one named, or the first column called `target`, `label`, `class`, `y` …"""
    if target_column is not None:
        return target_column
    return next((c for c in columns if str(c).lower() in TARGET_NAMES), None)


def _looks_like_id(name: Any, column: pd.Series) -> bool:
    """Every value distinct, and the column is named like an identifier or holds text (names, codes, keys)."""
    text = str(name).lower()
    named = text in ID_NAMES or text.endswith(("_id", " id")) or text.startswith("unnamed:")
    values = column.dropna()
    distinct = len(values) == len(column) and values.is_unique and len(column) > 1
    if not distinct or named:
        return distinct
    text = not _is_numeric_dtype(column) and pd.to_numeric(values, errors="coerce").notna().mean() < 0.9
    return text and len(column) >= MIN_ROWS_FOR_TEXT_ID


def _class_values(column: pd.Series) -> pd.Series:
    """Target values as classes: whole numbers read as floats (1.0) are the integers they stand for (1)."""
    if _is_numeric_dtype(column) and pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(values)) and np.all(np.mod(values, 1) == 0):
            return column.astype(np.int64)
    return column


def _is_numeric_dtype(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def quantile_to_normal(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Map values through the training quantiles to uniform ranks, then to a standard normal."""
    references = np.linspace(0, 1, len(quantiles))
    forward = np.interp(values, quantiles, references)
    backward = -np.interp(-values, -quantiles[::-1], -references[::-1])
    ranks = 0.5 * (forward + backward)
    return np.clip(
        ndtri(np.clip(ranks, QUANTILE_BOUND, 1 - QUANTILE_BOUND)), ndtri(QUANTILE_BOUND), ndtri(1 - QUANTILE_BOUND)
    )


class TabularJepaProcessor(FeatureExtractionMixin):
    """Fitted preprocessing of a table for T-JEPA (a transformers feature extractor).

    Declare the schema (`numerical_columns`, `categorical_columns`, `target_column`) or let `fit` infer it:
    numeric dtypes are numerical, text/bool/category dtypes categorical, and the target is the column named
    in `target_column` or one of `target`, `label`, `labels`, `class`, `y`. `fit` prints a summary.
    `processor(rows, return_tensors="pt")` gives the encoder's inputs, `numerical_features` (N, Dn) float32 and
    `categorical_features` (N, Dc) int64 (`return_labels=True` adds `labels`); `transform(rows)` gives them
    with `labels` (class codes, or float values for regression) when the target column is present.
    Rows: a DataFrame, a CSV / Parquet path, a `datasets.Dataset`, a `save_to_disk` folder, or a dict (one row
    `{column: value}` or columns `{column: [values]}`).
    """

    model_input_names = list(MODEL_INPUTS)

    def __init__(
        self,
        numerical_columns: list[str] | None = None,
        categorical_columns: list[str] | None = None,
        target_column: str | None = None,
        id_columns: list[str] | None = None,
        scaling: str = "quantile",
        missing_values: str = "error",
        unknown_categories: str = "bucket",
        n_quantiles: int = 1000,
        task: str | None = None,
        verbose: bool = True,
        numerical_stats: dict[str, dict] | None = None,
        categories: dict[str, list[str]] | None = None,
        classes: list | None = None,
        dropped_columns: list[str] | None = None,
        **kwargs,
    ):
        kwargs.pop("feature_extractor_type", None)
        kwargs.pop("fitted", None)  # written by older versions
        super().__init__(**kwargs)
        for name, value, allowed in (
            ("scaling", scaling, ("quantile", "standard")),
            ("missing_values", missing_values, ("error", "impute")),
            ("unknown_categories", unknown_categories, ("bucket", "error")),
            ("task", task, (None, "classification", "regression")),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        self.numerical_columns = list(numerical_columns) if numerical_columns is not None else None
        self.categorical_columns = list(categorical_columns) if categorical_columns is not None else None
        self.target_column, self.task = target_column, task
        self.id_columns = list(id_columns) if id_columns is not None else None
        self.scaling, self.missing_values, self.unknown_categories = scaling, missing_values, unknown_categories
        self.n_quantiles, self.verbose = n_quantiles, verbose
        self.numerical_stats: dict[str, dict] = {
            column: {k: (list(map(float, v)) if k == "quantiles" else float(v)) for k, v in stats.items()}
            for column, stats in (numerical_stats or {}).items()
        }
        self.categories: dict[str, list[str]] = {c: [str(v) for v in vs] for c, vs in (categories or {}).items()}
        self.classes: list | None = list(classes) if classes is not None else None
        self.dropped_columns: list[str] = list(dropped_columns or [])

    @property
    def fitted(self) -> bool:
        """Whether the processor holds fitted state (`fit`, or loaded with `from_pretrained`)."""
        return bool(self.numerical_stats or self.categories)

    # ---------------------------------------------------------------- fit
    def fit(self, data: Any) -> "TabularJepaProcessor":
        frame = read_table(data)
        if frame.empty:
            raise ValueError("cannot fit the processor on an empty table (no rows or no columns)")
        self._infer_schema(frame)
        self.dropped_columns = [
            c for c in self.numerical_columns + self.categorical_columns if frame[c].nunique(dropna=True) <= 1
        ]
        empty = [c for c in self.dropped_columns if frame[c].isna().all()]
        if self.dropped_columns:
            constant = [c for c in self.dropped_columns if c not in empty]
            warnings.warn(
                "dropping columns that carry no information: "
                + "; ".join(f"{what} {names}" for what, names in (("empty", empty), ("constant", constant)) if names),
                stacklevel=2,
            )
        self.numerical_columns = [c for c in self.numerical_columns if c not in self.dropped_columns]
        self.categorical_columns = [c for c in self.categorical_columns if c not in self.dropped_columns]
        if not self.numerical_columns + self.categorical_columns:
            raise ValueError("no informative feature column is left (all are constant or the target)")
        self.numerical_stats = {c: self._fit_numerical(frame[c], c) for c in self.numerical_columns}
        self.categories = {c: self._fit_categorical(frame[c], c) for c in self.categorical_columns}
        holes = {c: int(frame[c].isna().sum()) for c in self.numerical_columns + self.categorical_columns}
        holes = {c: n for c, n in holes.items() if n}
        if holes:
            warnings.warn(
                f"imputing missing values (count per column in the training rows: {holes}): numerical with the "
                "training median, categorical with the unknown bucket; --set missing_values=error refuses them",
                stacklevel=2,
            )
        self.classes = None
        if self.target_column is not None:
            self._fit_target(frame[self.target_column])
        if self.verbose:
            print(self.summary())
        return self

    def _infer_schema(self, frame: pd.DataFrame) -> None:
        columns = list(frame.columns)
        if self.target_column is not None and self.target_column not in columns:
            raise ValueError(
                f"target column {self.target_column!r} is not in the table (columns: {columns}); name it with "
                "--set target_column=NAME"
            )
        self.target_column = find_target(columns, self.target_column)
        declared = (self.numerical_columns or []) + (self.categorical_columns or [])
        missing = [c for c in declared + (self.id_columns or []) if c not in columns]
        if missing:
            raise ValueError(f"declared columns {missing} are not in the table (columns: {columns})")
        if self.id_columns is None:
            self.id_columns = [
                c for c in columns if c != self.target_column and c not in declared and _looks_like_id(c, frame[c])
            ]
            if self.id_columns:
                warnings.warn(
                    f"excluding identifier columns {self.id_columns} (every value distinct) from the features; they "
                    "give the rows' ids (--set id_columns=[] keeps them as features)",
                    stacklevel=3,
                )
        free = [c for c in columns if c != self.target_column and c not in declared and c not in self.id_columns]
        if self.numerical_columns is None:
            self.numerical_columns = [c for c in free if _is_numeric_dtype(frame[c])]
            for c in free:
                numbers, text = _text_values(frame[c])
                if not _is_numeric_dtype(frame[c]) and numbers.notna().mean() >= 0.9 and len(text):
                    raise ValueError(
                        f"column {c!r} looks numerical but has text values {sorted(set(map(str, text)))[:5]} in "
                        f"{len(text)} rows; clean them, or declare the column categorical (categorical_columns; "
                        f"--set categorical_columns={c})"
                    )
        if self.categorical_columns is None:
            self.categorical_columns = [c for c in free if c not in self.numerical_columns]
        ignored = [c for c in free if c not in self.numerical_columns + self.categorical_columns]
        if ignored:
            warnings.warn(f"ignoring columns outside the declared schema: {ignored}", stacklevel=3)
        self.numerical_columns = [c for c in self.numerical_columns if c != self.target_column]
        self.categorical_columns = [c for c in self.categorical_columns if c != self.target_column]

    def _numbers(self, column: pd.Series, name: str) -> np.ndarray:
        numbers, text = _text_values(column)
        if len(text):
            raise ValueError(
                f"numerical column {name!r} has text values {sorted(set(map(str, text)))[:5]} in {len(text)} rows; "
                "clean them or refit the processor declaring the column categorical"
            )
        values = numbers.to_numpy(dtype=np.float64)
        if np.isinf(values).any():
            raise ValueError(f"numerical column {name!r} has infinite values; replace them with finite numbers")
        return values

    def _missing_error(self, name: str, count: int) -> ValueError:
        return ValueError(
            f"column {name!r} has {count} missing values (NaN/None); fill them, or build the processor with "
            "missing_values='impute' (numerical: training median; categorical: the unknown bucket; "
            "--set missing_values=impute)"
        )

    def _fit_numerical(self, column: pd.Series, name: str) -> dict:
        values = self._numbers(column, name)
        present = values[~np.isnan(values)]
        if len(present) < len(values) and self.missing_values == "error":
            raise self._missing_error(name, len(values) - len(present))
        stats = {"median": float(np.median(present)), "mean": float(present.mean()), "std": float(present.std())}
        if self.scaling == "quantile":
            references = np.linspace(0, 1, min(self.n_quantiles, len(present)))
            stats["quantiles"] = np.quantile(present, references).tolist()
        return stats

    def _fit_categorical(self, column: pd.Series, name: str) -> list[str]:
        if column.isna().any() and self.missing_values == "error":
            raise self._missing_error(name, int(column.isna().sum()))
        return sorted(set(column.dropna().astype(str)))

    def _fit_target(self, column: pd.Series) -> None:
        if column.isna().any():
            raise ValueError(f"target column {self.target_column!r} has {int(column.isna().sum())} missing values")
        if self.task is None:
            integral = _is_numeric_dtype(column) and bool(np.all(np.mod(column.to_numpy(dtype=np.float64), 1) == 0))
            few_integers = integral and column.nunique() <= MAX_CLASSES_FOR_INTEGER_TARGET
            self.task = "regression" if _is_numeric_dtype(column) and not few_integers else "classification"
        if self.task == "classification":
            self.classes = sorted(_class_values(column).unique().tolist(), key=str)  # plain Python values (JSON)
            if len(self.classes) < 2:
                raise ValueError(
                    f"target column {self.target_column!r} has a single class {self.classes} in the training rows; "
                    "a classifier needs two (--set task=regression for a numeric target, --set target_column=NAME "
                    "for another column)"
                )

    # ---------------------------------------------------------------- transform
    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("the processor is not fitted; call fit(train_table) or load it with from_pretrained")

    def transform(self, data: Any) -> dict[str, torch.Tensor]:
        """Rows → {"numerical_features", "categorical_features"[, "labels"]} with the fitted state."""
        self._require_fitted()
        frame = read_table(data)
        if frame.empty:
            raise ValueError("the table is empty: there are no rows to preprocess")
        needed = self.numerical_columns + self.categorical_columns
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"the table lacks the columns {missing} that the processor was fitted with")
        known = set(needed) | set(self.dropped_columns) | set(self.id_columns or []) | {self.target_column}
        extra = [c for c in frame.columns if c not in known]
        if extra:
            warnings.warn(f"ignoring columns the processor was not fitted with: {extra}", stacklevel=2)
        out = {
            "numerical_features": torch.from_numpy(
                np.stack([self._scale(frame[c], c) for c in self.numerical_columns], axis=1)
                if self.numerical_columns
                else np.zeros((len(frame), 0))
            ).float(),
            "categorical_features": torch.from_numpy(
                np.stack([self._encode(frame[c], c) for c in self.categorical_columns], axis=1)
                if self.categorical_columns
                else np.zeros((len(frame), 0), dtype=np.int64)
            ).long(),
        }
        if self.target_column in frame.columns:
            out["labels"] = self._encode_target(frame[self.target_column])
        return out

    def __call__(
        self, rows: Any, return_tensors: str | None = "pt", return_labels: bool = False, **kwargs
    ) -> BatchFeature:
        """Rows → `BatchFeature` of the encoder's inputs (`model(**inputs)`), with `labels` if `return_labels`."""
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; the processor takes rows and return_labels=")
        out = self.transform(rows)
        keep = MODEL_INPUTS + (("labels",) if return_labels and "labels" in out else ())
        data = {k: out[k] for k in keep}
        if return_tensors == "np":
            return BatchFeature({k: v.numpy() for k, v in data.items()}, tensor_type="np")
        return BatchFeature(data)

    def _scale(self, column: pd.Series, name: str) -> np.ndarray:
        values, stats = self._numbers(column, name), self.numerical_stats[name]
        holes = np.isnan(values)
        if holes.any():
            if self.missing_values == "error":
                raise self._missing_error(name, int(holes.sum()))
            values = np.where(holes, stats["median"], values)
        if self.scaling == "quantile":
            return quantile_to_normal(values, np.asarray(stats["quantiles"]))
        return (values - stats["mean"]) / stats["std"]

    def _encode(self, column: pd.Series, name: str) -> np.ndarray:
        vocabulary = {value: code for code, value in enumerate(self.categories[name], start=1)}
        holes = column.isna().to_numpy()
        if holes.any() and self.missing_values == "error":
            raise self._missing_error(name, int(holes.sum()))
        codes = column.astype(str).map(vocabulary).to_numpy()
        unseen = np.isnan(codes.astype(np.float64)) & ~holes
        if unseen.any() and self.unknown_categories == "error":
            values = sorted(set(column[unseen].astype(str)))[:5]
            raise ValueError(
                f"column {name!r} has categories {values} not seen in training; map them to known values, or build "
                "the processor with unknown_categories='bucket' to send them to the unknown bucket"
            )
        return np.nan_to_num(codes.astype(np.float64), nan=0).astype(np.int64)

    def _encode_target(self, column: pd.Series) -> torch.Tensor:
        if column.isna().any():
            raise ValueError(f"target column {self.target_column!r} has {int(column.isna().sum())} missing values")
        if self.task == "regression":
            return torch.tensor(pd.to_numeric(column).to_numpy(dtype=np.float32))
        lookup = {str(c): i for i, c in enumerate(self.classes)}
        codes = _class_values(column).astype(str).map(lookup)
        if codes.isna().any():
            unseen = sorted(set(column[codes.isna()].astype(str)))[:5]
            raise ValueError(f"target column {self.target_column!r} has classes {unseen} not seen in training")
        return torch.tensor(codes.to_numpy(dtype=np.int64))

    # ---------------------------------------------------------------- model schema, summary, save / load
    def config_overrides(self) -> dict:
        """The config fields that describe this table: pass them to `TabularJepaConfig`."""
        self._require_fitted()
        return {
            "num_numerical_features": len(self.numerical_columns),
            "categorical_cardinalities": [len(self.categories[c]) + 1 for c in self.categorical_columns],
        }

    def check_config(self, config) -> None:
        """Raise a `ConfigFieldError` naming the field to set when a model config was built for another table
        schema than this processor's."""
        expected = self.config_overrides()
        for field, value in expected.items():
            found = getattr(config, field)
            if found != value:
                raise ConfigFieldError(
                    f"the model config has {field}={found} but the table gives {value} (the schema of the table: "
                    f"{expected}; in Python: TabularJepaConfig(**processor.config_overrides(), ...))",
                    field,
                    value,
                )

    def summary(self) -> str:
        self._require_fitted()
        lines = [f"TabularJepaProcessor: {len(self.numerical_columns)} numerical ({self.scaling} scaling), "
                 f"{len(self.categorical_columns)} categorical, missing values: {self.missing_values}, "
                 f"unknown categories: {self.unknown_categories}"]  # fmt: skip
        if self.categorical_columns:
            sizes = ", ".join(f"{c} ({len(self.categories[c])})" for c in self.categorical_columns)
            lines.append(f"  categorical: {sizes}")
        if self.dropped_columns:
            lines.append(f"  dropped constant columns: {self.dropped_columns}")
        if self.id_columns:
            lines.append(f"  identifier columns (not features): {self.id_columns}")
        target = "none" if self.target_column is None else f"{self.target_column!r} ({self.task}"
        if self.classes is not None:
            target += f", {len(self.classes)} classes"
        lines.append(f"  target: {target}{')' if self.target_column is not None else ''}")
        return "\n".join(lines)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Write the fitted state to `save_directory/preprocessor_config.json` (plain JSON)."""
        self._require_fitted()
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_dict(cls, values: dict, verbose: bool = False, **kwargs) -> "TabularJepaProcessor":
        """A fitted processor from `to_dict()` values (`from_pretrained(folder)` reads `preprocessor_config.json`)."""
        return super().from_dict({**values, "verbose": verbose}, **kwargs)
