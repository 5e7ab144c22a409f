"""fMRI ROI time series → tensors, and Brain Gradient Positioning computed from data.

Brain gradients (paper §3.1): the group functional connectivity (FC) is sparsified row-wise (keep each row's top
`1 − sparsity` share), turned into a normalized-angle affinity `A_ij = 1 − arccos(cos(c_i, c_j)) / π`, and
embedded with a diffusion map (α = 0.5: `L = D^-α A D^-α`, `M = D_L^-1 L`); the eigenvectors of `M` after
the trivial one, scaled by `λ / (1 − λ)`, are the ROI coordinates. The group gradients are computed once
(e.g. from the training subjects) and saved with the model as a buffer.
"""

from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
import torch
from jepa_core.overrides import ConfigFieldError
from scipy import signal
from scipy.sparse.csgraph import connected_components
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin


def _constant_rois(series: np.ndarray) -> list[int]:
    return np.flatnonzero(series.std(axis=1) == 0).tolist()


def functional_connectivity(series: Iterable[np.ndarray] | np.ndarray) -> np.ndarray:
    """Group FC (R, R): the Fisher-z average of each subject's Pearson correlation; subjects are (R, T) arrays,
    taken one at a time (an iterable that reads them from files is never held whole)."""
    subjects = [series] if isinstance(series, np.ndarray) and series.ndim == 2 else series
    num_rois, z_sum, count = None, None, 0
    for index, subject in enumerate(subjects):
        subject = np.asarray(subject, dtype=np.float64)
        if num_rois is None:
            num_rois, z_sum = subject.shape[0], np.zeros((subject.shape[0], subject.shape[0]))
        if subject.ndim != 2 or subject.shape[0] != num_rois:
            raise ValueError(
                f"subject {index} has shape {subject.shape}; every subject must be (ROIs={num_rois}, time)"
            )
        if not np.isfinite(subject).all():
            raise ValueError(f"subject {index} has NaN or infinite values; clean it before computing connectivity")
        if constant := _constant_rois(subject):
            raise ValueError(
                f"subject {index} has constant ROIs {constant[:10]}: their correlation is undefined; drop those "
                "ROIs from the parcellation (or the subject) before computing gradients"
            )
        correlation = np.clip(np.corrcoef(subject), -0.999999, 0.999999)
        z_sum += np.arctanh(correlation)
        count += 1
    if not count:
        raise ValueError("functional_connectivity needs at least one (ROIs, time) series")
    group = np.tanh(z_sum / count)
    np.fill_diagonal(group, 1.0)
    return group


def normalized_angle_affinity(connectivity: np.ndarray, sparsity: float = 0.9) -> np.ndarray:
    """Row-sparsified FC → `1 − arccos(cosine similarity of rows) / π` (BrainSpace's `normalized_angle`)."""
    fc = np.asarray(connectivity, dtype=np.float64)
    if fc.ndim != 2 or fc.shape[0] != fc.shape[1]:
        raise ValueError(f"connectivity must be a square (ROIs, ROIs) matrix, got shape {fc.shape}")
    if not np.isfinite(fc).all():
        raise ValueError("connectivity has NaN or infinite entries (constant ROIs?); drop or fix those ROIs")
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if sparsity > 0:
        threshold = np.percentile(fc, sparsity * 100, axis=1, keepdims=True)
        fc = np.where(fc < threshold, 0.0, fc)
    norms = np.linalg.norm(fc, axis=1)
    if (empty := np.flatnonzero(norms == 0)).size:
        raise ValueError(f"ROIs {empty[:10].tolist()} have no connections after sparsification; lower sparsity")
    cosine = np.clip((fc / norms[:, None]) @ (fc / norms[:, None]).T, -1.0, 1.0)
    return 1.0 - np.arccos(cosine) / np.pi


def diffusion_map(affinity: np.ndarray, num_components: int, alpha: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Diffusion-map embedding of a symmetric non-negative affinity → (embedding (R, m), eigenvalues (m,)).

    Columns are the eigenvectors of `M = D^-1 L_α` after the trivial one, in decreasing eigenvalue order,
    scaled by `λ / (1 − λ)` (multi-scale diffusion); each column's largest-magnitude entry is positive.
    """
    affinity = np.asarray(affinity, dtype=np.float64)
    num_rois = affinity.shape[0]
    if affinity.ndim != 2 or affinity.shape[1] != num_rois or not np.allclose(affinity, affinity.T, atol=1e-8):
        raise ValueError(f"affinity must be a symmetric square matrix, got shape {affinity.shape}")
    if (affinity < 0).any():
        raise ValueError("affinity has negative entries; a diffusion map needs non-negative weights")
    if not 1 <= num_components < num_rois:
        raise ValueError(f"{num_rois} ROIs give 1 to {num_rois - 1} gradients, asked for {num_components}")
    num_parts, labels = connected_components(affinity > 0, directed=False)
    if num_parts > 1:
        sizes = np.bincount(labels)
        raise ValueError(
            f"the connectivity graph has {num_parts} disconnected parts (sizes {sizes.tolist()}); gradients are "
            "undefined across parts. Drop the isolated ROIs, lower the sparsity, or compute gradients per part"
        )
    degree = affinity.sum(axis=1)
    kernel = affinity / np.outer(degree**alpha, degree**alpha) if alpha > 0 else affinity
    degree = kernel.sum(axis=1)
    symmetric = kernel / np.sqrt(np.outer(degree, degree))
    eigenvalues, eigenvectors = np.linalg.eigh(symmetric)
    order = np.argsort(eigenvalues)[::-1][: num_components + 1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    psi = eigenvectors / eigenvectors[:, [0]]  # right eigenvectors of M, trivial one = 1
    eigenvalues, psi = eigenvalues[1:], psi[:, 1:]
    embedding = psi * (eigenvalues / (1.0 - eigenvalues))
    signs = np.sign(embedding[np.abs(embedding).argmax(axis=0), np.arange(num_components)])
    return embedding * signs, eigenvalues


def brain_gradients(
    connectivity: np.ndarray, num_components: int = 30, alpha: float = 0.5, sparsity: float = 0.9
) -> np.ndarray:
    """ROI gradients (R, m) of a group connectivity matrix: normalized-angle affinity + diffusion map."""
    affinity = normalized_angle_affinity(connectivity, sparsity)
    return diffusion_map(affinity, num_components, alpha)[0].astype(np.float32)


def brain_gradients_from_timeseries(
    series: Iterable[np.ndarray], num_components: int = 30, alpha: float = 0.5, sparsity: float = 0.9
) -> np.ndarray:
    """ROI gradients (R, m) from training subjects' (R, T) series (an iterable), through their group FC."""
    return brain_gradients(functional_connectivity(series), num_components, alpha, sparsity)


def _resampling_ratio(repetition_time: float, target_repetition_time: float) -> Fraction:
    if repetition_time <= 0 or target_repetition_time <= 0:
        raise ValueError(f"repetition times must be positive, got {repetition_time} and {target_repetition_time}")
    return Fraction(repetition_time / target_repetition_time).limit_denominator(64)


def resampled_length(frames: int, repetition_time: float, target_repetition_time: float) -> int:
    """The number of frames `resample` gives for `frames` frames."""
    ratio = _resampling_ratio(repetition_time, target_repetition_time)
    return frames if ratio == 1 else -(-frames * ratio.numerator // ratio.denominator)


def resample(series: np.ndarray, repetition_time: float, target_repetition_time: float) -> np.ndarray:
    """Resample (R, T) from one TR to another (polyphase, anti-aliased); TRs in seconds."""
    ratio = _resampling_ratio(repetition_time, target_repetition_time)
    if ratio == 1:
        return series
    return signal.resample_poly(series, ratio.numerator, ratio.denominator, axis=1, padtype="line")


class BrainJepaProcessor(FeatureExtractionMixin):
    """ROI time series (any layout) → validated, robust-scaled `time_series` (B, R, num_frames) for the encoder.

    A transformers feature extractor: its fitted state (per-ROI `median` and `iqr`) is saved in
    `preprocessor_config.json` by `save_pretrained` (every `jepa pretrain` run has it), and
    `AutoProcessor.from_pretrained(run)` loads it after `import brain_jepa`.

    - layout: `"auto"` finds the ROI axis by `num_rois` (an error if neither or both axes match),
      `"roi_time"` or `"time_roi"` say it.
    - frames with NaN/inf: an error (`nan_policy="raise"`) or dropped (`"drop_frames"`).
    - `repetition_time` (s): series given with another TR (`tr=`) are resampled to it.
    - robust scaling per ROI `(x − median) / IQR`, statistics fitted on training subjects (`fit`). The paper takes
      them over each subject's temporal mean; here over all training frames, which stays defined for per-subject
      demeaned data (where the spread of the means is ~0).
    - crops of `num_frames` frames: random (training, with a generator) or the first ones.

    `processor(series, return_tensors="pt")` takes one subject (a 2-D array) or several (a list, or a 3-D stack
    subjects first) and returns a `BatchFeature` with `time_series`, so that `model(**inputs)` works;
    `process_subject(series)` gives one subject's (R, num_frames) tensor.
    """

    model_input_names = ["time_series"]

    def __init__(
        self,
        num_rois: int = 450,
        num_frames: int = 160,
        patch_size: int = 16,
        repetition_time: float | None = None,
        layout: str = "auto",
        nan_policy: str = "raise",
        median: Sequence[float] | None = None,
        iqr: Sequence[float] | None = None,
        **kwargs,
    ):
        if layout not in ("auto", "roi_time", "time_roi"):
            raise ValueError(f"layout must be 'auto', 'roi_time' or 'time_roi', got {layout!r}")
        if nan_policy not in ("raise", "drop_frames"):
            raise ValueError(f"nan_policy must be 'raise' or 'drop_frames', got {nan_policy!r}")
        super().__init__(**kwargs)
        self.num_rois, self.num_frames, self.patch_size = num_rois, num_frames, patch_size
        self.repetition_time, self.layout, self.nan_policy = repetition_time, layout, nan_policy
        self.median = None if median is None else np.asarray(median, dtype=np.float64)
        self.iqr = None if iqr is None else np.asarray(iqr, dtype=np.float64)

    @classmethod
    def from_config(cls, config, **kwargs) -> "BrainJepaProcessor":
        return cls(config.num_rois, config.num_frames, config.patch_size, **kwargs)

    def to_roi_time(self, series, layout: str | None = None, tr: float | None = None) -> np.ndarray:
        """Validate one subject and return it as (ROIs, time) float64, resampled to `repetition_time`."""
        array = np.asarray(series, dtype=np.float64)
        if array.ndim != 2:
            raise ValueError(
                f"expected one subject's ROI time series as a 2-D array (ROIs × time or time × ROIs), "
                f"got shape {array.shape}"
            )
        layout = layout or self.layout
        if layout == "auto":
            roi_first, roi_last = array.shape[0] == self.num_rois, array.shape[1] == self.num_rois
            if roi_first == roi_last:
                reason = "both axes have" if roi_first else "neither axis has"
                raise ValueError(
                    f"series of shape {array.shape}: {reason} the model's {self.num_rois} ROIs. "
                    + (
                        "Pass layout='roi_time' or 'time_roi'."
                        if roi_first
                        else "Use the parcellation the gradients were computed for, or compute gradients "
                        "for yours (brain_gradients_from_timeseries) and set num_rois in the config."
                    )
                )
            layout = "roi_time" if roi_first else "time_roi"
        if layout == "time_roi":
            array = array.T
        if array.shape[0] != self.num_rois:
            raise ValueError(
                f"series has {array.shape[0]} ROIs but the model's gradients cover {self.num_rois}; use the same "
                "parcellation or compute new gradients and set num_rois"
            )
        bad_frames = np.flatnonzero(~np.isfinite(array).all(axis=0))
        if bad_frames.size and self.nan_policy == "raise":
            raise ValueError(
                f"{bad_frames.size} frames hold NaN or inf values (first at frame {bad_frames[0]}); clean them, "
                "or let the processor drop them with nan_policy='drop_frames'"
            )
        array = np.delete(array, bad_frames, axis=1)
        if tr is not None and self.repetition_time is not None:
            array = resample(array, tr, self.repetition_time)
        if array.shape[1] < self.patch_size:
            raise ValueError(f"series has {array.shape[1]} frames, shorter than one patch of {self.patch_size} frames")
        if array.shape[1] < self.num_frames:
            raise ConfigFieldError(
                f"series has {array.shape[1]} frames but the model takes {self.num_frames}; use longer scans or "
                f"a config with num_frames <= {array.shape[1] - array.shape[1] % self.patch_size}",
                "num_frames",
                array.shape[1] - array.shape[1] % self.patch_size,
            )
        return array

    def fit(self, subjects: Sequence, layout: str | None = None, tr: float | None = None) -> "BrainJepaProcessor":
        """Fit per-ROI median and IQR on training subjects."""
        frames = np.concatenate([self.to_roi_time(s, layout, tr) for s in subjects], axis=1)
        low, self.median, high = np.percentile(frames, [25, 50, 75], axis=1)
        self.iqr = high - low
        if (flat := np.flatnonzero(self.iqr == 0)).size:
            raise ValueError(
                f"ROIs {flat[:10].tolist()} are constant over the training data (IQR 0), so they cannot be "
                "scaled; drop them from the parcellation"
            )
        return self

    def process_subject(
        self,
        series,
        layout: str | None = None,
        tr: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One subject → (R, num_frames) float32: validated, scaled, cropped (random start with `generator`)."""
        array = self.to_roi_time(series, layout, tr)
        if self.median is not None:
            array = (array - self.median[:, None]) / self.iqr[:, None]
        span = array.shape[1] - self.num_frames
        start = 0 if generator is None or span == 0 else int(torch.randint(0, span + 1, (1,), generator=generator))
        return torch.from_numpy(array[:, start : start + self.num_frames].astype(np.float32))

    def __call__(
        self,
        series,
        layout: str | None = None,
        tr: float | None = None,
        generator: torch.Generator | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """One subject (2-D) or several (a list, or a 3-D stack subjects first) →
        `BatchFeature(time_series=(B, R, num_frames))`."""
        if isinstance(series, np.ndarray | torch.Tensor) and series.ndim == 3:
            subjects = list(np.asarray(series))
        elif isinstance(series, list | tuple) and series and np.ndim(series[0]) == 2:
            subjects = list(series)
        else:
            subjects = [series]
        batch = torch.stack([self.process_subject(s, layout, tr, generator) for s in subjects])
        return BatchFeature({"time_series": batch.numpy()}, tensor_type=return_tensors)
