"""The embedded data: 12-lead ECG from neurokit2's ECGSYN model (McSharry et al. 2003) with beat-level rhythm control.

`nk.ecg_simulate(method="multileads")` integrates the ECGSYN ODE along an RR series it draws itself. On the model's
unit limit cycle the phase advances at θ' = 2π/RR, and the voltage obeys z' = -Σᵢ aᵢ Δθᵢ exp(-Δθᵢ²/2bᵢ²) - (z - z₀): a
first-order low-pass of a forcing linear in the wave amplitudes. `ecgsyn_leads` solves that equation directly
(exact exponential steps at 4× the output rate) along a given beat-by-beat RR series with per-beat wave
parameters, so rhythms neurokit2 cannot draw (premature beats, AF-like irregularity, a long PR interval) take
milliseconds; for a constant RR series it reproduces neurokit2's output (tested). Noise is `nk.signal_distort`.
"""

import numpy as np
from scipy.signal import lfilter

WARMUP = 4.0  # seconds simulated before the record starts: the start-up transient of z (time constant 1 s) decays
SIMULATED_CONDITIONS = ("bradycardia", "tachycardia", "atrial_fibrillation", "premature_beats", "av_block_1")
# neurokit2's ECGSYN defaults for the waves P, Q, R, S, T and its 12-lead gain matrix (gamma, leads × waves)
WAVE_ANGLES = np.array([-70.0, -15.0, 0.0, 15.0, 100.0])
WAVE_AMPLITUDES = np.array([1.2, -5.0, 30.0, -7.5, 0.75])
WAVE_WIDTHS = np.array([0.25, 0.1, 0.1, 0.1, 0.4])
LEAD_GAINS = np.array([
    [1, 0.1, 1, 1.2, 1], [2, 0.2, 0.2, 0.2, 3], [1, -0.1, -0.8, -1.1, 2.5], [-1, -0.05, -0.8, -0.5, -1.2],
    [0.05, 0.05, 1, 1, 1], [1, -0.05, -0.1, -0.1, 3], [-0.5, 0.05, 0.2, 0.5, 1], [0.05, 0.05, 1.3, 2.5, 2],
    [1, 0.05, 1, 2, 1], [1.2, 0.05, 1, 2, 2], [1.5, 0.1, 0.8, 1, 2], [1.8, 0.05, 0.5, 0.1, 2],
])  # fmt: skip


def rate_adjusted_waves(mean_rr: float) -> tuple[np.ndarray, np.ndarray]:
    """neurokit2's wave angles (degrees) and widths adjusted to the mean heart rate as there (√(HR/60) factors)."""
    factor = np.sqrt(1 / mean_rr)
    return WAVE_ANGLES * np.array([factor**0.5, factor, 1, factor, factor**0.5]), WAVE_WIDTHS * factor


def ecgsyn_leads(
    rr: np.ndarray,
    length: int,
    sampling_rate: int = 500,
    angles: np.ndarray | None = None,
    amplitudes: np.ndarray | None = None,
    widths: np.ndarray | None = None,
    start: float = 0.0,
    oversample: int = 4,
) -> np.ndarray:
    """(12, length) ECGSYN leads scaled to [-0.4, 1.2] per lead as neurokit2 does; an R peak at t = 0.

    `rr` (seconds, one per beat) must cover `start + length / sampling_rate` seconds. `angles` (degrees),
    `amplitudes` and `widths` (radians) are (5,) for every beat or (len(rr) + 1, 5) per beat (beat k owns the S, T
    after its R peak and the P, Q before it); default: neurokit2's, adjusted to the mean heart rate as there.
    """
    rr = np.asarray(rr, dtype=float)
    peaks = np.concatenate([[0.0], np.cumsum(rr)])
    if peaks[-1] < start + length / sampling_rate:
        end = start + length / sampling_rate
        raise ValueError(f"the RR series covers {peaks[-1]:.2f} s, less than start + length = {end:.2f} s; add beats")
    default_angles, default_widths = rate_adjusted_waves(rr.mean())
    angles, amplitudes, widths = (
        np.broadcast_to(np.asarray(default if p is None else p, dtype=float), (len(rr) + 1, 5))
        for p, default in [(angles, default_angles), (amplitudes, WAVE_AMPLITUDES), (widths, default_widths)]
    )
    dt = 1 / (sampling_rate * oversample)
    t = start + np.arange(length * oversample) * dt
    beat = np.clip(np.searchsorted(peaks, t, side="right") - 1, 0, len(rr) - 1)
    theta = 2 * np.pi * (t - peaks[beat]) / rr[beat]  # in [0, 2π) from one R peak to the next
    owner = np.where(theta < np.pi, beat, beat + 1)
    delta = theta[:, None] - np.deg2rad(angles[owner])
    delta -= 2 * np.pi * np.round(delta / (2 * np.pi))
    waves = delta * np.exp(-0.5 * (delta / widths[owner]) ** 2) * amplitudes[owner]  # (time, 5)
    forcing = -waves @ LEAD_GAINS.T + 0.005 * np.sin(2 * np.pi * 0.25 * t)[:, None]  # (time, 12)
    decay = np.exp(-dt)
    z = lfilter([1 - decay], [1, -decay], forcing, axis=0)[::oversample].T
    low, high = z.min(1, keepdims=True), z.max(1, keepdims=True)
    return (z - low) * 1.6 / (high - low) - 0.4


def _rhythm(rng: np.random.Generator, mean_rr: float, beats: int, fibrillation: bool) -> np.ndarray:
    """Per-beat RR: AF-like (irregularly irregular, log-normal, CV ≈ 0.15-0.25) or sinus with respiratory arrhythmia."""
    if fibrillation:
        return mean_rr * np.exp(rng.normal(0, rng.uniform(0.15, 0.25), beats))
    times = np.cumsum(np.full(beats, mean_rr))
    breathing = rng.uniform(0, 0.05) * np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * times + rng.uniform(0, 2 * np.pi))
    return mean_rr * (1 + breathing + rng.normal(0, 0.01, beats))


def simulate_record(
    rng: np.random.Generator, duration: float = 10.0, sampling_rate: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """One 12-lead record (12, duration·sampling_rate) in mV and its labels over `SIMULATED_CONDITIONS`.

    Rate class (brady 40–55, normal 60–95, tachy 105–150 bpm); AF-like rhythm (p 0.25: irregularly irregular RR, no
    P waves); in sinus rhythm, independently, 1–3 premature atrial beats (p 0.35: coupling 55–75 % of the RR, normal
    QRS) and first-degree AV block (p 0.35: PR prolonged by 100–160 ms). Unlabelled: QRS width (× 0.8–1.6), T-wave
    amplitude and sign, respiratory sinus arrhythmia, lead gains (× 0.5–1.5), noise, baseline wander.
    """
    import neurokit2 as nk

    rate_class = rng.choice(3, p=[0.25, 0.5, 0.25])
    mean_rr = 60 / rng.uniform(*[(40, 55), (60, 95), (105, 150)][rate_class])
    fibrillation = bool(rng.random() < 0.25)
    premature, av_block = (not fibrillation and rng.random() < 0.35 for _ in range(2))
    beats = int(np.ceil((duration + WARMUP) / mean_rr / 0.7)) + 4
    rr = _rhythm(rng, mean_rr, beats, fibrillation)
    if premature:  # an early beat then a (nearly) compensatory pause, at random positions inside the record
        starts = np.cumsum(rr)
        inside = np.flatnonzero((starts > WARMUP) & (starts < WARMUP + duration - 1.5 * mean_rr))
        candidates = inside[:-1:2]  # every other beat: two premature beats are never adjacent
        premature = len(candidates) > 0  # a record too short for one stays labelled negative
        for k in rng.choice(candidates, size=min(len(candidates), rng.integers(1, 4)), replace=False):
            coupling = rng.uniform(0.55, 0.75)
            rr[k + 1] = rr[k] * (2 - coupling) * rng.uniform(0.9, 1.0)
            rr[k] *= coupling
    angles, widths = rate_adjusted_waves(mean_rr)
    if av_block:
        angles[0] = max(angles[0] - 360 * rng.uniform(0.10, 0.16) / mean_rr, -155.0)
    amplitudes = WAVE_AMPLITUDES.copy()
    amplitudes[4] *= rng.choice([-1, 1], p=[0.2, 0.8]) * rng.uniform(0.6, 1.4)
    if fibrillation:
        amplitudes[0] = 0.0
    widths = widths * np.array([1, *[rng.uniform(0.8, 1.6)] * 3, rng.uniform(0.8, 1.2)])
    length = int(duration * sampling_rate)
    signal = ecgsyn_leads(rr, length, sampling_rate, angles, amplitudes, widths, start=WARMUP)
    noise = rng.uniform(0.01, 0.08)
    distort = {"noise_amplitude": noise, "noise_frequency": [5, 10, 100], "noise_shape": "laplace", "silent": True}
    signal = np.stack(
        [nk.signal_distort(lead, sampling_rate, random_state=int(rng.integers(2**31)), **distort) for lead in signal]
    )
    t = np.arange(length) / sampling_rate
    wander = 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 2 * np.pi))
    signal = signal * rng.uniform(0.5, 1.5, size=(12, 1)) + wander
    labels = np.array([rate_class == 0, rate_class == 2, fibrillation, premature, av_block], dtype=np.float32)
    return signal.astype(np.float32), labels
