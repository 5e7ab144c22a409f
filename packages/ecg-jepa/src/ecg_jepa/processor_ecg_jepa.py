"""Raw 12-lead ECG → normalised tensor, as ECG-JEPA's preprocessing, on neurokit2.

Steps: check the input, select and reorder leads by name (case-insensitive; standard leads the model does not use,
e.g. III, aVR, aVL, aVF for the 8-lead per-lead variant, are dropped), interpolate NaN linearly, FFT-resample to
`sampling_rate` (500 Hz; 250 Hz for the per-lead variant), optionally high-pass at 0.5 Hz (4th-order Butterworth,
zero-phase), standardise each lead with statistics fitted once and saved with the processor, clip.

Clipping: the paper clips the standardised signal to ±5, which flattens the R peaks of real ECG whose R waves stand
more than 5 SD above the lead mean (a narrow QRS at a slow rate: 100 % of the R peaks of pywt's MIT-BIH sample, 16 %
of a 50-bpm ECGSYN ECG at 1000 Hz; measured in tests/ecg-jepa/test_ecg_own_data.py). So `fit` sets the bound from
the training data: `clip_margin` (2) × the largest per-lead 99.9th percentile of |z|, and at least 5. Physiological
peaks (the top 0.1 % of samples are R peaks) stay, and only artefacts twice as large as them are clipped. A fixed
`clip_value` (5.0 in processors saved before) is kept as it is.

`EcgJepaProcessor` is a transformers `FeatureExtractionMixin`: its settings and fitted statistics are saved as
`preprocessor_config.json`, and `AutoProcessor` / `AutoFeatureExtractor` load it (after `import ecg_jepa`).
"""

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from jepa_core.overrides import ConfigFieldError
from transformers import BatchFeature
from transformers.feature_extraction_utils import FeatureExtractionMixin

from .configuration_ecg_jepa import STANDARD_LEADS

BAD_LEAD_POLICIES = ("raise", "zero")
CLIP_QUANTILE = 0.999
MIN_CLIP = 5.0


class EcgSignalError(ValueError):
    """An ECG record the processor cannot turn into a trustworthy input; the message names the fix."""


class EcgConfigFieldError(ConfigFieldError, EcgSignalError):
    """An ECG problem that a config field fixes (`--set FIELD=VALUE` on the command line)."""


def interpolate_nan(lead: np.ndarray) -> np.ndarray:
    """Fill NaN/inf samples of one lead linearly between finite neighbours (edges take the nearest value)."""
    finite = np.isfinite(lead)
    if finite.all():
        return lead
    positions = np.arange(len(lead))
    return np.interp(positions, positions[finite], lead[finite])


class EcgJepaProcessor(FeatureExtractionMixin):
    """Turns (leads, samples) arrays at any sample rate into (leads, samples at `sampling_rate`) float32 tensors.

    `processor(record_or_records, sampling_rate=Hz, lead_names=[...], return_tensors="pt")` gives a `BatchFeature`
    with `input_values` (records, leads, samples), the encoder's input; `process` gives one record's tensor.
    `lead_mean` / `lead_std` (one value per lead) come from `fit` on training records and are saved by
    `save_pretrained` (`preprocessor_config.json`). `bad_lead_policy="raise"` rejects NaN-only or flat leads;
    `"zero"` repairs them by setting the lead to 0 after normalisation (a documented repair for a disconnected
    electrode).
    """

    model_input_names = ["input_values"]

    def __init__(
        self,
        sampling_rate: int = 500,
        lead_names: Sequence[str] = STANDARD_LEADS,
        highpass_hz: float | None = None,
        filter_order: int = 4,
        clip_value: float | None = None,
        clip_margin: float = 2.0,
        min_samples: int = 25,
        bad_lead_policy: str = "raise",
        lead_mean: Sequence[float] | None = None,
        lead_std: Sequence[float] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if bad_lead_policy not in BAD_LEAD_POLICIES:
            raise ValueError(f"bad_lead_policy must be one of {BAD_LEAD_POLICIES}, got {bad_lead_policy!r}")
        self.sampling_rate, self.lead_names = int(sampling_rate), list(lead_names)
        self.highpass_hz, self.filter_order = highpass_hz, filter_order
        if clip_value is None and lead_mean is not None:
            clip_value = MIN_CLIP  # statistics given by hand: the paper's bound unless one is given too
        self.clip_value = None if clip_value is None else float(clip_value)
        self.clip_margin = float(clip_margin)
        self.min_samples, self.bad_lead_policy = min_samples, bad_lead_policy
        self.lead_mean = None if lead_mean is None else [float(v) for v in lead_mean]
        self.lead_std = None if lead_std is None else [float(v) for v in lead_std]
        for name, stats in [("lead_mean", self.lead_mean), ("lead_std", self.lead_std)]:
            if stats is not None and len(stats) != len(self.lead_names):
                raise ValueError(f"{name} has {len(stats)} values for {len(self.lead_names)} leads")
        if self.lead_std is not None and min(self.lead_std) <= 0:
            raise ValueError("lead_std values must be positive")

    @classmethod
    def from_config(cls, config, **kwargs) -> "EcgJepaProcessor":
        return cls(config.sampling_rate, config.lead_names, min_samples=config.patch_size, **kwargs)

    # -- checks and lead order -------------------------------------------------------------------------------------
    def _lead_order(self, lead_names: Sequence[str] | None, num_rows: int) -> list[int]:
        expected = len(self.lead_names)
        if lead_names is None:
            if num_rows != expected:
                raise EcgSignalError(
                    f"the record has {num_rows} leads but the model needs {expected} ({', '.join(self.lead_names)});"
                    " pass lead_names= so the processor can pick and reorder them"
                )
            return list(range(expected))
        if len(lead_names) != num_rows:
            raise EcgSignalError(f"{len(lead_names)} lead names given for a record with {num_rows} leads")
        position = {str(name).lower(): i for i, name in enumerate(lead_names)}
        missing = [n for n in self.lead_names if n.lower() not in position]
        if missing:  # leads the model does not use are dropped; missing ones are never filled in
            raise EcgSignalError(
                f"the record lacks lead(s) {missing} (it has {list(lead_names)}); the model was trained on "
                f"{self.lead_names} and missing leads are never filled in: use records with those leads, or pretrain "
                "a model on the leads you have (`jepa pretrain` takes them from the files)"
            )
        return [position[name.lower()] for name in self.lead_names]

    def _check(self, signal, sampling_rate) -> np.ndarray:
        if sampling_rate is None:
            raise EcgSignalError("the sample rate is missing; pass sampling_rate= (Hz) with every record")
        if not np.isscalar(sampling_rate) or not float(sampling_rate) > 0:
            raise EcgSignalError(f"sampling_rate must be a positive number of Hz, got {sampling_rate!r}")
        signal = np.asarray(signal.detach().cpu() if isinstance(signal, torch.Tensor) else signal, dtype=np.float64)
        if signal.ndim != 2:
            raise EcgSignalError(f"expected a (leads, samples) array, got shape {signal.shape}")
        if signal.shape[1] == len(self.lead_names) and signal.shape[0] != len(self.lead_names):
            raise EcgSignalError(f"shape {signal.shape} looks like (samples, leads); pass the transpose (signal.T)")
        return signal

    def _bad_lead(self, lead: int, problem: str) -> None:
        if self.bad_lead_policy == "raise":
            raise EcgSignalError(
                f"lead {self.lead_names[lead]} is {problem}; drop the record, or use bad_lead_policy='zero' to "
                "zero that lead"
            )

    # -- the pipeline ----------------------------------------------------------------------------------------------
    def prepare(
        self, signal, sampling_rate: float | None, lead_names: Sequence[str] | None = None
    ) -> tuple[np.ndarray, list[int]]:
        """Checked, reordered, NaN-free, resampled (and filtered) signal before normalisation, plus bad lead rows."""
        import neurokit2 as nk

        signal = self._check(signal, sampling_rate)
        signal = signal[self._lead_order(lead_names, signal.shape[0])]
        target_length = self.output_length(signal.shape[1], sampling_rate)
        if target_length < self.min_samples:
            raise EcgSignalError(
                f"the record has {signal.shape[1]} samples at {sampling_rate} Hz = {target_length} at "
                f"{self.sampling_rate} Hz, shorter than one {self.min_samples}-sample patch; it is too short to encode"
            )
        bad, leads = [], []
        for row, lead in enumerate(signal):
            if not np.isfinite(lead).any():
                self._bad_lead(row, "all NaN")
                bad.append(row)
                leads.append(np.zeros(target_length))
                continue
            lead = interpolate_nan(lead)
            if target_length != len(lead):
                lead = nk.signal_resample(
                    lead, sampling_rate=float(sampling_rate), desired_sampling_rate=self.sampling_rate, method="FFT"
                )[:target_length]
            if self.highpass_hz:
                lead = nk.signal_filter(
                    lead, sampling_rate=self.sampling_rate, lowcut=self.highpass_hz, method="butterworth",
                    order=self.filter_order,
                )  # fmt: skip
            if np.ptp(lead) == 0:
                self._bad_lead(row, "a flat line (constant)")
                bad.append(row)
            leads.append(np.asarray(lead, dtype=np.float64))
        return np.stack(leads), bad

    def fit(
        self, signals: Sequence, sampling_rate: float | None, lead_names: Sequence[str] | None = None
    ) -> "EcgJepaProcessor":
        """Set per-lead mean and std from training records (all sharing `sampling_rate` and `lead_names`)."""
        return self.fit_records([(s, sampling_rate, lead_names) for s in signals])

    def fit_records(self, records: Iterable[tuple], min_std: float | None = None) -> "EcgJepaProcessor":
        """`fit` on (signal, sampling_rate, lead_names) triples, each record with its own rate and lead names.

        `records` is read in a few passes and never joined (a list, or a sequence that reads its records from files
        on demand), so memory does not grow with their number: the per-lead mean and std in one pass (numpy's on
        the joined records up to rounding), the clip bound exactly in two or three more. `min_std`: a floor for
        the std instead of an error for a lead that is constant over all records.
        """
        from jepa_core.running_stats import moments

        def prepared() -> Iterator[np.ndarray]:
            return (self.prepare(*record)[0] for record in records)

        try:
            stats = moments(prepared)
        except ValueError:
            raise ValueError("fit needs at least one record") from None
        std = stats.std if min_std is None else np.maximum(stats.std, min_std)
        if (std == 0).any():
            flat = [self.lead_names[i] for i in np.flatnonzero(std == 0)]
            raise EcgSignalError(f"lead(s) {flat} are constant over all training records; cannot standardise them")
        self.lead_mean, self.lead_std = stats.mean.tolist(), std.tolist()
        if self.clip_value is None:
            self._fit_clip(prepared, stats)
        return self

    def _fit_clip(self, prepared: Callable[[], Iterator[np.ndarray]], stats) -> None:
        """`clip_value`: `clip_margin` × the largest per-lead 99.9th percentile of |z| of the prepared training
        samples, at least `MIN_CLIP` (the paper's 5)."""
        from jepa_core.running_stats import quantiles

        mean, std = np.asarray(self.lead_mean)[:, None], np.asarray(self.lead_std)[:, None]

        def magnitudes() -> Iterator[np.ndarray]:
            return (np.abs((p - mean) / std) for p in prepared())

        bound = np.maximum(np.abs((stats.high[:, None] - mean) / std), np.abs((stats.low[:, None] - mean) / std))
        top = quantiles(magnitudes, CLIP_QUANTILE, count=stats.count, low=np.zeros(len(std)), high=bound[:, 0]).max()
        self.clip_value = float(max(MIN_CLIP, self.clip_margin * top))

    def output_length(self, num_samples: int, sampling_rate: float) -> int:
        """Samples of a record of `num_samples` at `sampling_rate` Hz once resampled to the processor's rate."""
        return int(round(num_samples * self.sampling_rate / float(sampling_rate)))

    def normalize(self, prepared: np.ndarray, bad_leads: Sequence[int] = ()) -> torch.Tensor:
        if self.lead_mean is None or self.lead_std is None:
            raise RuntimeError("the processor has no lead statistics; call fit(train_records, ...) or load a saved one")
        if self.clip_value is None:
            raise RuntimeError("the processor has no clip bound; call fit(train_records, ...) or load a saved one")
        mean, std = np.asarray(self.lead_mean)[:, None], np.asarray(self.lead_std)[:, None]
        normalised = np.clip((prepared - mean) / std, -self.clip_value, self.clip_value)
        normalised[list(bad_leads)] = 0.0
        return torch.from_numpy(normalised.astype(np.float32))

    def process(self, signal, sampling_rate: float | None, lead_names: Sequence[str] | None = None) -> torch.Tensor:
        """One record (leads, samples) at `sampling_rate` Hz → float32 (num_leads, samples at the processor's rate)."""
        return self.normalize(*self.prepare(signal, sampling_rate, lead_names))

    def __call__(
        self,
        signals,
        sampling_rate: float | None = None,
        lead_names: Sequence[str] | None = None,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        """One record (leads, samples) or several (a list of them, or a (records, leads, samples) array), all at
        `sampling_rate` Hz with rows named `lead_names` → `BatchFeature` with `input_values` (records, num_leads,
        samples at the processor's rate); `model(**processor(...))` encodes them."""
        records = [self.process(s, sampling_rate, lead_names) for s in _records_of(signals)]
        lengths = {r.shape[-1] for r in records}
        if len(lengths) > 1:
            raise EcgSignalError(
                f"the records have different lengths after resampling ({sorted(lengths)} samples); crop them to one "
                "length, or process them one at a time"
            )
        values = torch.stack(records)
        return BatchFeature({"input_values": values if return_tensors == "pt" else values.numpy()}, return_tensors)


def _records_of(signals) -> list:
    """A list of (leads, samples) records from one record, a list of records or a (records, leads, samples) array."""
    if isinstance(signals, list | tuple) and signals and np.ndim(signals[0]) == 2:
        return list(signals)
    if isinstance(signals, torch.Tensor):
        signals = signals.detach().cpu()
    if np.ndim(signals) == 3:
        return list(signals)
    return [signals]
