"""Waveforms → standardised log-mel spectrograms, as the reference's `ToLMS` (librosa mel filters + torch.stft).

`librosa.filters.mel` gives the same Slaney filterbank nnAudio uses; the STFT runs in torch, so no numba
compilation happens on the first call.
"""

import librosa
import numpy as np
import torch

from .configuration_stem_jepa import StemJepaConfig


class StemJepaProcessor:
    """Turns mono waveforms (T,) or (B, T) at `config.sample_rate` into (B, 1, n_mels, frames) model inputs."""

    def __init__(self, config: StemJepaConfig):
        self.config = config
        basis = librosa.filters.mel(
            sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.f_min, fmax=config.f_max
        )
        self.mel_basis = torch.from_numpy(basis).float()
        self.window = torch.hann_window(config.win_length)

    def log_mel(self, waveforms: torch.Tensor | np.ndarray) -> torch.Tensor:
        """(B, T) or (T,) → (B, 1, n_mels, 1 + T // hop) standardised log-mel power (centred frames)."""
        waves = torch.as_tensor(waveforms, dtype=torch.float32)
        if waves.ndim == 1:
            waves = waves[None]
        if waves.ndim != 2:
            raise ValueError(f"expected mono waveforms shaped (T,) or (batch, T), got {tuple(waves.shape)}")
        if waves.shape[-1] < self.config.n_fft:
            raise ValueError(f"waveforms of {waves.shape[-1]} samples are shorter than n_fft={self.config.n_fft}")
        if not torch.isfinite(waves).all():
            raise ValueError("waveforms contain NaN or inf samples")
        spec = torch.stft(
            waves,
            self.config.n_fft,
            self.config.hop_length,
            self.config.win_length,
            self.window,
            center=True,
            return_complex=True,
        )
        mel = self.mel_basis @ spec.abs().pow(2)
        log_mel = (mel + self.config.log_eps).log()
        return ((log_mel - self.config.spec_mean) / self.config.spec_std)[:, None]

    def __call__(self, waveforms: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Waveforms of one chunk (`config.chunk_samples` samples) → (B, 1, n_mels, num_frames)."""
        return self.log_mel(waveforms)[..., : self.config.num_frames]

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
        patch, frames = self.config.patch_size, self.config.num_frames
        usable = max(patch, spec.shape[-1] // patch * patch)
        if spec.shape[-1] < usable:
            raise ValueError(f"the track is too short: it needs at least {patch * self.config.hop_length} samples")
        full, rest = divmod(usable, frames)
        parts = []
        if full:
            body = spec[..., : full * frames].reshape(1, self.config.n_mels, full, frames)
            parts.append(body.permute(2, 0, 1, 3).contiguous())
        if rest:
            parts.append(spec[..., full * frames : usable])
        return parts
