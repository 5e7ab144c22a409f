"""Audio → normalised Kaldi log-mel fbank `input_values` (frames, mel bins), as AudioMAE / A-JEPA compute them.

Kaldi fbank (`snip_edges`): frames of 25 ms every 10 ms, DC offset removed, pre-emphasis 0.97, Hann window,
zero-padded to the next power of two, power spectrum, triangular filters on the Kaldi mel scale
(1127 ln(1 + f / 700)) from 20 Hz to Nyquist, natural log floored at float eps. The mel filters are built
here in torch (no numba compile, which costs librosa 10–40 s on first use).

Documented handling: multi-channel audio is averaged to mono (a 2-D input's shorter axis is the channel
axis); integer or 8-bit files and integer arrays are read as floats in [-1, 1]; other sample rates are resampled
with soxr (or rejected with `resample=False`); clips are cropped from the start or padded with zeros (the
normalised mean) to `target_length` frames. Errors: empty, silent (peak below `silence_threshold`) or
non-finite audio, clips shorter than one patch, unreadable or truncated files.
"""

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr
import torch
from transformers.feature_extraction_utils import FeatureExtractionMixin

from .configuration_ajepa import AudioJepaConfig

AudioInput = np.ndarray | torch.Tensor | Sequence[float]
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")


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


class AudioJepaProcessor(FeatureExtractionMixin):
    """Waveforms or files → `{"input_values": (B, target_length, num_mel_bins)}`; saves as preprocessor_config.json."""

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
        super().__init__(**kwargs)
        self.sampling_rate, self.num_mel_bins, self.target_length = sampling_rate, num_mel_bins, target_length
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

    def to_mono(self, audio: AudioInput, sampling_rate: int | None) -> torch.Tensor:
        """Checked, mono, float waveform at `self.sampling_rate`."""
        if sampling_rate is None:
            raise ValueError(f"pass sampling_rate= (the rate of this audio); the model expects {self.sampling_rate} Hz")
        waveform = np.asarray(audio.numpy() if isinstance(audio, torch.Tensor) else audio)
        if waveform.dtype.kind in "iu":  # integer PCM (8-bit wav is unsigned) → [-1, 1], as soundfile reads it
            scale = (np.iinfo(waveform.dtype).max + 1) / (2 if waveform.dtype.kind == "u" else 1)
            waveform = (waveform.astype(np.float64) - (scale if waveform.dtype.kind == "u" else 0)) / scale
        waveform = waveform.astype(np.float32)
        if waveform.ndim == 2:
            channel_axis = 0 if waveform.shape[0] < waveform.shape[1] else 1
            waveform = waveform.mean(axis=channel_axis)
        if waveform.ndim != 1:
            raise ValueError(f"audio must be 1-D (samples) or 2-D (samples × channels), got shape {waveform.shape}")
        if waveform.size == 0:
            raise ValueError("the audio is empty (0 samples); remove it from the data")
        if not np.isfinite(waveform).all():
            raise ValueError("the audio holds NaN or infinite samples; clean or remove the clip")
        if sampling_rate != self.sampling_rate:
            if not self.resample:
                raise ValueError(
                    f"audio at {sampling_rate} Hz, but this processor expects {self.sampling_rate} Hz and "
                    "resample=False; resample it first or build the processor with resample=True"
                )
            waveform = soxr.resample(waveform, sampling_rate, self.sampling_rate).astype(np.float32)
        peak = float(np.abs(waveform).max())
        if peak < self.silence_threshold:
            raise ValueError(
                f"the audio is silent (peak {peak:.2e} < silence_threshold {self.silence_threshold}); "
                "remove it, or set silence_threshold=0 to keep silent clips"
            )
        if waveform.size < self.min_samples:
            raise ValueError(
                f"the clip has {waveform.size} samples ({waveform.size / self.sampling_rate * 1000:.0f} ms), shorter "
                f"than one {self.patch_size}-frame patch ({self.min_samples} samples); use clips of at least "
                f"{math.ceil(self.min_samples / self.sampling_rate * 1000)} ms"
            )
        return torch.from_numpy(waveform)

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

    def features(self, audio: AudioInput, sampling_rate: int | None) -> torch.Tensor:
        """One clip → normalised (target_length, num_mel_bins)."""
        return self.normalize(self.fbank(self.to_mono(audio, sampling_rate)))

    def load(self, path: str | Path) -> torch.Tensor:
        """A file → normalised features; errors name the file."""
        audio, sample_rate = read_audio(path)
        try:
            return self.features(audio, sample_rate)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error

    def __call__(
        self, audio: AudioInput | list[AudioInput], sampling_rate: int | None = None, **kwargs
    ) -> dict[str, torch.Tensor]:
        """One clip or a list of clips (arrays at `sampling_rate`) → {"input_values": (B, frames, mel bins)}."""
        clips = audio if isinstance(audio, list) and audio and not np.isscalar(audio[0]) else [audio]
        waveforms = [self.to_mono(clip, sampling_rate) for clip in clips]
        if len({len(w) for w in waveforms}) == 1:  # one batched transform
            return {"input_values": self.normalize(self.fbank(torch.stack(waveforms)))}
        return {"input_values": torch.stack([self.normalize(self.fbank(w)) for w in waveforms])}

    def compute_normalization(self, clips: Sequence[AudioInput], sampling_rate: int) -> tuple[float, float]:
        """Mean and std of the un-normalised log-mel fbank over `clips` (every frame and bin); set them as
        `fbank_mean` / `fbank_std` here and in the model config to use statistics of your own data."""
        values = torch.cat([self.fbank(self.to_mono(clip, sampling_rate)).flatten() for clip in clips])
        return float(values.mean()), float(values.std())
