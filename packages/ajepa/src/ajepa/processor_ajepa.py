"""Audio → normalised Kaldi log-mel fbank `input_values` (frames, mel bins), as AudioMAE / A-JEPA compute them.

Kaldi fbank (`snip_edges`): frames of 25 ms every 10 ms, DC offset removed, pre-emphasis 0.97, Hann window,
zero-padded to the next power of two, power spectrum, triangular filters on the Kaldi mel scale
(1127 ln(1 + f / 700)) from 20 Hz to Nyquist, natural log floored at float eps. The mel filters are built
here in torch (no numba compile, which costs librosa 10–40 s on first use).

Documented handling: multichannel files (soundfile's (samples, channels)) and `datasets` arrays ((channels,
samples)) are averaged to mono; a 2-D array given to the processor is a stack of clips (clips, samples), one row
each, and one shaped like (samples, channels) is refused; integer or 8-bit files and integer arrays are read as
floats in [-1, 1]; float audio holding int16-scale values (whole numbers, peak above 1) is divided by 32768 with a
warning, other float audio far above 1 is refused; other sample rates are resampled with soxr (or rejected with
`resample=False`); clips are cropped from the start or padded with zeros (the normalised mean) to
`target_length` frames (the data sets cut long clips into windows). Errors: empty, silent (peak below
`silence_threshold`) or non-finite audio, clips shorter than one patch, unreadable or truncated files.

`AudioJepaProcessor` is a transformers `SequenceFeatureExtractor`: `save_pretrained` writes
`preprocessor_config.json`, and after `import ajepa`, `AutoProcessor` / `AutoFeatureExtractor.from_pretrained(run)`
load it.
"""

import io
import logging
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr
import torch
from jepa_core.overrides import ConfigFieldError
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature

from .configuration_ajepa import AudioJepaConfig

AudioInput = np.ndarray | torch.Tensor | Sequence[float]
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
MAX_FLOAT_PEAK = 4.0  # float audio may overshoot 1 a little (float masters); far above is a scale error
logger = logging.getLogger(__name__)


def read_audio(path: str | Path | BinaryIO) -> tuple[np.ndarray, int]:
    """Read an audio file (or open binary file) as float32 (samples, channels) and its sample rate, with a clear
    error if unreadable."""
    try:
        source = str(path) if isinstance(path, str | Path) else path
        audio, sample_rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        name = path if isinstance(path, str | Path) else "the audio data"
        raise ValueError(
            f"{name} cannot be read as audio ({error}); it may be truncated or not a wav/flac/mp3/ogg file. "
            "Re-export it or remove it from the data."
        ) from error
    return audio, sample_rate


def named_error(error: ValueError, name) -> ValueError:
    """`error` with the clip's name in front (a `ConfigFieldError` keeps its field, so the CLI names `--set`)."""
    if isinstance(error, ConfigFieldError):
        return ConfigFieldError(f"{name}: {error.problem}", error.field, error.value)
    return ValueError(f"{name}: {error}")


@lru_cache(maxsize=8)
def kaldi_mel_filters(num_bins: int, fft_size: int, sample_rate: int, low_freq: float) -> torch.Tensor:
    """(num_bins, fft_size // 2 + 1) triangular filters, linear on the Kaldi mel scale (the Nyquist bin gets 0)."""

    def mel(freq: torch.Tensor | float) -> torch.Tensor:
        return 1127.0 * torch.log1p(torch.as_tensor(freq, dtype=torch.float64) / 700.0)

    mel_low, mel_high = mel(low_freq), mel(sample_rate / 2)
    delta = (mel_high - mel_low) / (num_bins + 1)
    left = mel_low + delta * torch.arange(num_bins, dtype=torch.float64)[:, None]
    center, right = left + delta, left + 2 * delta
    bin_mels = mel(torch.arange(fft_size // 2, dtype=torch.float64) * sample_rate / fft_size)[None, :]
    rising, falling = (bin_mels - left) / (center - left), (right - bin_mels) / (right - center)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return torch.nn.functional.pad(weights, (0, 1)).float()


class AudioJepaProcessor(SequenceFeatureExtractor):
    """Waveforms, audio files or `datasets` audio values → `BatchFeature({"input_values": (B, target_length,
    num_mel_bins)})`, the keyword arguments of `AudioJepaModel`; saves as preprocessor_config.json."""

    model_input_names = ["input_values"]

    def __init__(
        self,
        sampling_rate: int = 16000,
        num_mel_bins: int = 128,
        frame_length_ms: float = 25.0,
        frame_shift_ms: float = 10.0,
        preemphasis: float = 0.97,
        low_freq: float = 20.0,
        target_length: int = 1024,
        patch_size: int = 16,
        fbank_mean: float = -4.2677393,
        fbank_std: float = 4.5689974,
        silence_threshold: float = 1e-4,
        resample: bool = True,
        **kwargs,
    ):
        kwargs.pop("feature_size", None)  # saved by SequenceFeatureExtractor; derived from num_mel_bins here
        kwargs.pop("padding_value", None)
        kwargs.setdefault("return_attention_mask", False)
        super().__init__(feature_size=num_mel_bins, sampling_rate=sampling_rate, padding_value=0.0, **kwargs)
        self.num_mel_bins, self.target_length = num_mel_bins, target_length
        self.frame_length_ms, self.frame_shift_ms, self.preemphasis = frame_length_ms, frame_shift_ms, preemphasis
        self.low_freq, self.patch_size, self.resample = low_freq, patch_size, resample
        self.fbank_mean, self.fbank_std, self.silence_threshold = fbank_mean, fbank_std, silence_threshold

    @classmethod
    def from_config(cls, config: AudioJepaConfig, **overrides) -> "AudioJepaProcessor":
        names = [
            "sampling_rate", "num_mel_bins", "frame_length_ms", "frame_shift_ms", "preemphasis", "low_freq",
            "target_length", "patch_size", "fbank_mean", "fbank_std", "silence_threshold",
        ]  # fmt: skip
        return cls(**{**{name: getattr(config, name) for name in names}, **overrides})

    @property
    def window_samples(self) -> int:
        return round(self.sampling_rate * self.frame_length_ms / 1000)

    @property
    def hop_samples(self) -> int:
        return round(self.sampling_rate * self.frame_shift_ms / 1000)

    @property
    def min_samples(self) -> int:
        """Shortest clip that yields one patch of frames."""
        return self.window_samples + self.hop_samples * (self.patch_size - 1)

    def prepare(
        self, audio: AudioInput, sampling_rate: int | None, channel_axis: int | None = None, name: str | None = None
    ) -> np.ndarray:
        """Checked mono float32 waveform at `self.sampling_rate`, without the length and silence checks.

        - integer PCM (8-bit unsigned, int16, int32) → floats in [-1, 1], as soundfile reads it;
        - float audio holding int16-scale values (integer values, peak above 1, up to 32768) → divided by 32768,
          with a warning (naming `name`; none when `name=""`); other float audio peaking above `MAX_FLOAT_PEAK`
          is refused (it would shift every log-mel value);
        - `channel_axis` names the channel axis of 2-D audio (files: 1, `datasets` arrays: 0), whose channels
          are averaged to mono; a 2-D array without it is refused here (`__call__` reads one as a stack of clips).
        """
        if sampling_rate is None:
            raise ValueError(f"pass sampling_rate= (the rate of this audio); the model expects {self.sampling_rate} Hz")
        waveform = np.asarray(audio.numpy() if isinstance(audio, torch.Tensor) else audio)
        if waveform.dtype.kind in "iu":  # integer PCM (8-bit wav is unsigned) → [-1, 1], as soundfile reads it
            scale = (np.iinfo(waveform.dtype).max + 1) / (2 if waveform.dtype.kind == "u" else 1)
            waveform = (waveform.astype(np.float64) - (scale if waveform.dtype.kind == "u" else 0)) / scale
        waveform = waveform.astype(np.float32)
        if waveform.ndim == 2 and channel_axis is not None:
            waveform = waveform.mean(axis=channel_axis)  # stereo / multichannel → mono (documented)
        if waveform.ndim != 1:
            raise ValueError(
                f"audio of shape {waveform.shape} is ambiguous: pass one 1-D mono clip (samples,), a stack of clips "
                "(clips, samples) to the processor, or mix multichannel audio down first (e.g. audio.mean(axis=1) "
                "for (samples, channels))"
            )
        if waveform.size == 0:
            raise ValueError("the audio is empty (0 samples); remove it from the data")
        if not np.isfinite(waveform).all():
            raise ValueError(
                f"the audio holds {int((~np.isfinite(waveform)).sum())} NaN or infinite samples; clean or remove it"
            )
        peak = float(np.abs(waveform).max())
        if peak > MAX_FLOAT_PEAK:
            if peak <= 32768 and np.array_equal(waveform, np.round(waveform)):
                if name != "":
                    where = f"{name}: " if name else ""
                    logger.warning("%sfloat audio with int16-scale values (peak %.0f): divided by 32768", where, peak)
                waveform = waveform / np.float32(32768)
            else:
                raise ValueError(
                    f"float audio peaks at {peak:.4g}, but float audio must lie in [-1, 1] (int16 values are "
                    "detected only when they are whole numbers); divide it by its full scale (e.g. 32768) first"
                )
        if sampling_rate != self.sampling_rate:
            if not self.resample:
                raise ValueError(
                    f"audio at {sampling_rate} Hz, but this processor expects {self.sampling_rate} Hz and "
                    "resample=False; resample it first or build the processor with resample=True"
                )
            waveform = soxr.resample(waveform, sampling_rate, self.sampling_rate).astype(np.float32)
        return waveform

    def problem(self, waveform: np.ndarray) -> str | None:
        """Why a prepared waveform cannot be used (silent, shorter than one patch), or None."""
        peak = float(np.abs(waveform).max())
        if peak < self.silence_threshold:
            return (
                f"silent (peak {peak:.2e} < silence_threshold {self.silence_threshold}; keep silent clips with "
                "--set silence_threshold=0)"
            )
        if waveform.size < self.min_samples:
            return (
                f"too short: {waveform.size / self.sampling_rate * 1000:.0f} ms, shorter than one "
                f"{self.patch_size}-frame patch ({math.ceil(self.min_samples / self.sampling_rate * 1000)} ms)"
            )
        return None

    def to_mono(
        self, audio: AudioInput, sampling_rate: int | None, channel_axis: int | None = None, name: str | None = None
    ) -> torch.Tensor:
        """Checked, mono, float waveform at `self.sampling_rate` (`prepare`, then silence and length checks)."""
        waveform = self.prepare(audio, sampling_rate, channel_axis, name)
        problem = self.problem(waveform)
        if problem and problem.startswith("silent"):
            peak = float(np.abs(waveform).max())
            raise ConfigFieldError(
                f"the audio is silent (peak {peak:.2e} < silence_threshold {self.silence_threshold}); remove it, or "
                "keep silent clips",
                "silence_threshold",
                0,
            )
        if problem:
            raise ValueError(
                f"the clip is {problem} ({waveform.size} samples < {self.min_samples}); use longer clips, or leave "
                "such files out with on_bad_file=skip"
            )
        return torch.from_numpy(waveform)

    def num_frames(self, num_samples: int) -> int:
        """Fbank frames of a waveform of `num_samples` samples at the processor's rate."""
        return 0 if num_samples < self.window_samples else 1 + (num_samples - self.window_samples) // self.hop_samples

    def fbank(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Kaldi log-mel fbank of mono waveforms (..., samples) at `self.sampling_rate`: (..., frames, mel bins)."""
        waveforms = waveforms - waveforms.mean(dim=-1, keepdim=True)
        frames = waveforms.unfold(-1, self.window_samples, self.hop_samples)
        frames = frames - frames.mean(dim=-1, keepdim=True)
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        frames = (frames - self.preemphasis * previous) * torch.hann_window(self.window_samples, periodic=False)
        fft_size = 1 << (self.window_samples - 1).bit_length()
        power = torch.fft.rfft(frames, n=fft_size).abs().pow(2)
        filters = kaldi_mel_filters(self.num_mel_bins, fft_size, self.sampling_rate, self.low_freq)
        return torch.clamp(power @ filters.T, min=torch.finfo(torch.float32).eps).log()

    def normalize(self, fbank: torch.Tensor) -> torch.Tensor:
        """(..., frames, bins) → normalised, cropped from the start or zero-padded to `target_length` frames."""
        fbank = ((fbank - self.fbank_mean) / (2 * self.fbank_std))[..., : self.target_length, :]
        return torch.nn.functional.pad(fbank, (0, 0, 0, self.target_length - fbank.shape[-2]))

    def features(self, audio: AudioInput, sampling_rate: int | None, channel_axis: int | None = None) -> torch.Tensor:
        """One clip → normalised (target_length, num_mel_bins) (its first `target_length` frames)."""
        return self.normalize(self.fbank(self.to_mono(audio, sampling_rate, channel_axis)))

    def load(self, path: str | Path) -> torch.Tensor:
        """A file → normalised features; errors name the file."""
        audio, sample_rate = read_audio(path)
        try:
            return self.features(audio, sample_rate, channel_axis=1)
        except ValueError as error:
            raise named_error(error, path) from error

    def decode(self, clip, sampling_rate: int | None) -> tuple[np.ndarray, int | None, int | None]:
        """One raw input → (audio, its rate, its channel axis): a file path (soundfile: (samples, channels)), a
        `datasets` audio value (`{"array", "sampling_rate"}`: a 2-D array is (channels, samples); or `{"bytes"}` /
        `{"path"}` when not decoded), or an array at `sampling_rate`."""
        if isinstance(clip, str | Path):
            return (*read_audio(clip), 1)
        if isinstance(clip, dict):
            if clip.get("array") is not None:
                return clip["array"], clip.get("sampling_rate", sampling_rate), 0
            if clip.get("bytes"):
                return (*read_audio(io.BytesIO(clip["bytes"])), 1)
            if clip.get("path"):
                return (*read_audio(clip["path"]), 1)
            raise ValueError(f"an audio dict needs 'array' (+ 'sampling_rate'), 'bytes' or 'path'; got {list(clip)}")
        return clip, sampling_rate, None

    def waveform(self, clip, sampling_rate: int | None) -> torch.Tensor:
        """One raw input (see `decode`) → checked mono waveform; errors name the file."""
        audio, rate, channel_axis = self.decode(clip, sampling_rate)
        try:
            return self.to_mono(audio, rate, channel_axis)
        except ValueError as error:
            name = clip if isinstance(clip, str | Path) else clip.get("path") if isinstance(clip, dict) else None
            raise (named_error(error, name) if name else error) from error

    @staticmethod
    def split_clips(audio) -> list:
        """A list of clips as given; one 2-D array or tensor → its rows, a stack of clips (clips, samples); one clip
        → [it]. A 2-D array shaped like (samples, channels) (≤ 8 columns, many rows) is refused as ambiguous."""
        if isinstance(audio, list | tuple) and audio and (isinstance(audio[0], str | Path | dict) or np.ndim(audio[0])):
            return list(audio)
        if isinstance(audio, np.ndarray | torch.Tensor) and audio.ndim == 2:
            rows, columns = audio.shape
            if columns <= 8 < rows:
                raise ValueError(
                    f"a 2-D array is read as a stack of clips (clips, samples), but this one is {tuple(audio.shape)}, "
                    "which looks like (samples, channels) multichannel audio: mix it to mono first "
                    "(audio.mean(axis=1)) or pass the file path"
                )
            return list(audio)
        return [audio]

    def __call__(
        self,
        audio: AudioInput | str | Path | dict | list,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """One clip, a list of clips (arrays at `sampling_rate`, file paths, `datasets` audio dicts) or a 2-D stack
        of clips (clips, samples) → `BatchFeature({"input_values": (B, frames, mel bins)})`, one row per clip (its
        first `target_length` frames); `return_tensors="np"` gives numpy. Multichannel files and `datasets`
        arrays are averaged to mono; a 2-D array is never read as channels."""
        waveforms = [self.waveform(clip, sampling_rate) for clip in self.split_clips(audio)]
        if len({len(w) for w in waveforms}) == 1:  # one batched transform
            values = self.normalize(self.fbank(torch.stack(waveforms)))
        else:
            values = torch.stack([self.normalize(self.fbank(w)) for w in waveforms])
        if return_tensors in ("np", "numpy"):
            values = values.numpy()
        elif return_tensors not in (None, "pt"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        return BatchFeature({"input_values": values})

    def compute_normalization(self, clips: Sequence[AudioInput], sampling_rate: int) -> tuple[float, float]:
        """Mean and std of the un-normalised log-mel fbank over `clips` (every frame and bin); set them as
        `fbank_mean` / `fbank_std` here and in the model config to use statistics of your own data."""
        values = torch.cat([self.fbank(self.to_mono(clip, sampling_rate)).flatten() for clip in clips])
        return float(values.mean()), float(values.std())
