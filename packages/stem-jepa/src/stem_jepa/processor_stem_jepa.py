"""Waveforms → standardised log-mel spectrograms, as the reference's `ToLMS` (librosa mel filters + torch.stft).

`librosa.filters.mel` gives the same Slaney filterbank nnAudio uses; the STFT runs in torch, so no numba
compilation happens on the first call. `StemJepaProcessor` is a transformers `SequenceFeatureExtractor`:
`save_pretrained` writes `preprocessor_config.json`, and after `import stem_jepa`,
`AutoProcessor.from_pretrained(run)` loads it.
"""

from pathlib import Path

import librosa
import numpy as np
import soundfile
import torch
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature

from .configuration_stem_jepa import StemJepaConfig

# processor attribute ← config field
CONFIG_FIELDS = {
    "sampling_rate": "sample_rate", "n_fft": "n_fft", "win_length": "win_length", "hop_length": "hop_length",
    "n_mels": "n_mels", "f_min": "f_min", "f_max": "f_max", "log_eps": "log_eps", "spec_mean": "spec_mean",
    "spec_std": "spec_std", "num_frames": "num_frames", "patch_size": "patch_size",
}  # fmt: skip


class StemJepaProcessor(SequenceFeatureExtractor):
    """Mono waveforms (T,) or (B, T), audio files or `datasets` audio dicts → `BatchFeature({"input_values":
    (B, 1, n_mels, frames)})`, the keyword arguments of `StemJepaModel` (at most `num_frames` frames).

    `processor.spectrogram(waveforms)` gives the tensor directly; `processor.chunks(track)` cuts a whole track
    as the reference evaluation. Build it from a model config with `StemJepaProcessor.from_config(config)`.
    """

    model_input_names = ["input_values"]

    def __init__(
        self,
        sampling_rate: int = 16_000,
        n_fft: int = 400,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 80,
        f_min: float = 50.0,
        f_max: float = 8000.0,
        log_eps: float = 1.1920928955078125e-07,
        spec_mean: float = -9.453,
        spec_std: float = 3.569,
        num_frames: int = 800,
        patch_size: int = 16,
        **kwargs,
    ):
        kwargs.pop("feature_size", None)  # saved by SequenceFeatureExtractor; it is n_mels here
        kwargs.pop("padding_value", None)
        kwargs.setdefault("return_attention_mask", False)
        super().__init__(feature_size=n_mels, sampling_rate=sampling_rate, padding_value=0.0, **kwargs)
        self.n_fft, self.win_length, self.hop_length, self.n_mels = n_fft, win_length, hop_length, n_mels
        self.f_min, self.f_max, self.log_eps = f_min, f_max, log_eps
        self.spec_mean, self.spec_std, self.num_frames, self.patch_size = spec_mean, spec_std, num_frames, patch_size
        basis = librosa.filters.mel(sr=sampling_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
        self.mel_filters = torch.from_numpy(basis).float()  # `mel_filters` and `window` are not saved
        self.window = torch.hann_window(win_length)

    @classmethod
    def from_config(cls, config: StemJepaConfig, **overrides) -> "StemJepaProcessor":
        """The processor a model config describes (the front end's fields are config fields)."""
        return cls(**{**{name: getattr(config, field) for name, field in CONFIG_FIELDS.items()}, **overrides})

    def log_mel(self, waveforms: torch.Tensor | np.ndarray) -> torch.Tensor:
        """(B, T) or (T,) → (B, 1, n_mels, 1 + T // hop) standardised log-mel power (centred frames)."""
        waves = torch.as_tensor(waveforms, dtype=torch.float32)
        if waves.ndim == 1:
            waves = waves[None]
        if waves.ndim != 2:
            raise ValueError(f"expected mono waveforms shaped (T,) or (batch, T), got {tuple(waves.shape)}")
        if waves.shape[-1] < self.n_fft:
            raise ValueError(f"waveforms of {waves.shape[-1]} samples are shorter than n_fft={self.n_fft}")
        if not torch.isfinite(waves).all():
            raise ValueError("waveforms contain NaN or inf samples")
        spec = torch.stft(
            waves, self.n_fft, self.hop_length, self.win_length, self.window, center=True, return_complex=True
        )
        mel = self.mel_filters @ spec.abs().pow(2)
        log_mel = (mel + self.log_eps).log()
        return ((log_mel - self.spec_mean) / self.spec_std)[:, None]

    def spectrogram(self, waveforms: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Waveforms of one chunk (`num_frames` hops) → (B, 1, n_mels, ≤ num_frames) tensor."""
        return self.log_mel(waveforms)[..., : self.num_frames]

    def waveform(self, audio, sampling_rate: int | None = None) -> np.ndarray:
        """One raw input → a float32 waveform at `self.sampling_rate`: an array (at `sampling_rate`, default the
        processor's), an audio file path (channels averaged), or a `datasets` `{"array", "sampling_rate"}` dict."""
        if isinstance(audio, str | Path):
            try:
                data, sampling_rate = soundfile.read(str(audio), dtype="float32", always_2d=True)
            except Exception as error:
                raise ValueError(f"cannot read the audio file {audio}: {error}; convert it to wav or flac") from error
            audio = data.mean(axis=1)
        elif isinstance(audio, dict):
            if audio.get("array") is None:
                raise ValueError(f"an audio dict needs 'array' and 'sampling_rate'; got {list(audio)}")
            audio, sampling_rate = audio["array"], audio.get("sampling_rate", sampling_rate)
        wave = np.asarray(audio.numpy() if isinstance(audio, torch.Tensor) else audio, dtype=np.float32)
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            wave = librosa.resample(wave, orig_sr=sampling_rate, target_sr=self.sampling_rate, axis=-1)
        return wave.astype(np.float32)

    def __call__(
        self, audio, sampling_rate: int | None = None, return_tensors: str | None = "pt", **kwargs
    ) -> BatchFeature:
        """One waveform (T,), a batch (B, T) or a list of equal-length waveforms, files or audio dicts (at
        `sampling_rate`, default the processor's) → `BatchFeature({"input_values": (B, 1, n_mels, frames)})`."""
        batch = isinstance(audio, list | tuple) and len(audio) > 0
        if batch and (isinstance(audio[0], str | Path | dict) or not np.isscalar(audio[0])):
            waves = [self.waveform(item, sampling_rate) for item in audio]
            if len({w.shape for w in waves}) != 1:
                raise ValueError(f"waveforms of different lengths {[w.shape for w in waves]}; cut them to one length")
            waves = np.stack(waves)
        else:
            waves = self.waveform(audio, sampling_rate)
        values = self.spectrogram(waves)
        if return_tensors in ("np", "numpy"):
            values = values.numpy()
        elif return_tensors not in (None, "pt"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        return BatchFeature({"input_values": values})

    def chunks(self, waveform: torch.Tensor | np.ndarray) -> list[torch.Tensor]:
        """A whole track (T,) → chunks as the reference's evaluation: the spectrogram is cropped to a multiple of
        `patch_size` frames (at least one patch) and split into `num_frames` chunks. Returns [(C, 1, n_mels,
        num_frames)] plus, when the length is not a multiple of `num_frames`, one shorter (1, 1, n_mels, f) chunk.
        """
        if np.ndim(waveform) != 1:
            raise ValueError(
                f"expected one mono track shaped (samples,), got {tuple(np.shape(waveform))}; mix the channels down "
                "(e.g. audio.mean(axis=0)) and pass one track at a time"
            )
        spec = self.log_mel(waveform)
        patch, frames = self.patch_size, self.num_frames
        usable = max(patch, spec.shape[-1] // patch * patch)
        if spec.shape[-1] < usable:
            raise ValueError(f"the track is too short: it needs at least {patch * self.hop_length} samples")
        full, rest = divmod(usable, frames)
        parts = []
        if full:
            body = spec[..., : full * frames].reshape(1, self.n_mels, full, frames)
            parts.append(body.permute(2, 0, 1, 3).contiguous())
        if rest:
            parts.append(spec[..., full * frames : usable])
        return parts
