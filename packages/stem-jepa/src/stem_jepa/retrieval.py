"""Stem compatibility: rank candidate stems against a mix, and the reference's retrieval evaluation.

Embeddings follow `evar/musdb_eval.py`: a track is cut into chunks, the (F, T, D) token grid is averaged over time
(all chunks), flattened to F·D (3840 for the reference), layer-normed and L2-normalised. A query is the
prediction from the mix of the other stems (`predictor(encoder(mix), instrument)`), a key is the target encoder's
embedding of an isolated stem; candidates are all non-silent stems of all tracks.
"""

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .configuration_stem_jepa import StemJepaConfig
from .modeling_stem_jepa import StemJepaForPreTraining, StemJepaModel
from .processor_stem_jepa import StemJepaProcessor

logger = logging.getLogger(__name__)


def pool_chunks(hidden: list[torch.Tensor], num_freq: int) -> torch.Tensor:
    """Token states [(C, F·T, D)] of one track → (F·D,): the mean over every time patch of every chunk."""
    columns = [h.reshape(h.shape[0], num_freq, -1, h.shape[-1]).transpose(0, 1).flatten(1, 2) for h in hidden]
    return torch.cat(columns, dim=1).mean(dim=1).flatten()


def normalize_embeddings(embeddings: torch.Tensor) -> torch.Tensor:
    """Layer norm over the feature axis, then L2 normalisation (the reference's `-n` option)."""
    return F.normalize(F.layer_norm(embeddings.float(), embeddings.shape[-1:]), dim=-1)


class StemEmbedder:
    """Query and key embeddings of whole tracks with a `StemJepaModel` (its encoder for both sides) or a
    `StemJepaForPreTraining` (online encoder + predictor for queries, EMA target encoder for keys, as the paper)."""

    def __init__(self, model: StemJepaModel | StemJepaForPreTraining, processor: StemJepaProcessor | None = None):
        self.config: StemJepaConfig = model.config
        if isinstance(model, StemJepaForPreTraining):
            self.context_encoder, self.key_encoder = model.context_encoder, model.target.encoder
        else:
            self.context_encoder = self.key_encoder = model.encoder
        self.predictor: nn.Module = model.predictor
        self.processor = processor if processor is not None else StemJepaProcessor.from_config(self.config)
        self.device = next(model.parameters()).device
        self.num_freq = self.config.grid_shape[0]

    def _encode(self, encoder: nn.Module, waveform, instrument: int | None = None) -> torch.Tensor:
        hidden = []
        for chunk in self.processor.chunks(waveform):
            tokens = encoder(chunk.to(self.device))
            if instrument is not None:
                tokens = self.predictor(tokens, torch.full((len(chunk),), instrument, device=self.device))
            hidden.append(tokens)
        return pool_chunks(hidden, self.num_freq)

    @torch.no_grad()
    def query(self, mix, instrument: int) -> torch.Tensor:
        """(F·D,) predicted embedding of a stem of class `instrument` that fits the mix waveform."""
        return self._encode(self.context_encoder, mix, instrument)

    @torch.no_grad()
    def key(self, stem) -> torch.Tensor:
        """(F·D,) embedding of an isolated stem waveform."""
        return self._encode(self.key_encoder, stem)


def _instrument_index(config: StemJepaConfig, instrument: int | str) -> int:
    if isinstance(instrument, str):
        return config.instrument_index(instrument)
    if not 0 <= int(instrument) < config.num_instruments:
        raise ValueError(f"instrument index {instrument} is outside [0, {config.num_instruments})")
    return int(instrument)


def rank_stems(
    model: StemJepaModel | StemJepaForPreTraining,
    mix,
    candidates,
    instrument: int | str,
    processor: StemJepaProcessor | None = None,
    *,
    sampling_rate: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Score how well each candidate stem fits the mix as the given instrument.

    `mix` is a mono waveform (T,) and `candidates` a list of waveforms (or a (K, T) array), all at
    `sampling_rate` (required: audio at another rate than the model's would be ranked wrongly; it is resampled
    with librosa to `config.sample_rate`). Returns (scores (K,), order (K,)): cosine similarities between the
    predicted and the candidates' embeddings (higher fits better), and candidate indices from best to worst.
    `processor`: the one saved with the model (default: the one its config describes).
    """
    embedder = StemEmbedder(model, processor)
    candidates = list(candidates)
    if not candidates:
        raise ValueError("no candidate stems given")
    mix = embedder.processor.waveform(mix, sampling_rate)
    candidates = [embedder.processor.waveform(stem, sampling_rate) for stem in candidates]
    query = normalize_embeddings(embedder.query(mix, _instrument_index(embedder.config, instrument)))
    keys = normalize_embeddings(torch.stack([embedder.key(stem) for stem in candidates]))
    scores = (keys @ query).cpu()
    return scores, scores.argsort(descending=True)


def retrieval_metrics(queries: torch.Tensor, keys: torch.Tensor, matches: torch.Tensor) -> dict[str, float]:
    """Rank of `keys[matches[i]]` for each query by Euclidean distance: Recall@1/5/10, AUC of the recall@k curve
    (k/N on [0, 1], trapezoid; 0.5 is chance), mean and median normalised rank (rank / N; lower is better)."""
    distances = torch.cdist(normalize_embeddings(queries), normalize_embeddings(keys))
    true = distances.gather(1, matches[:, None])
    ranks = (distances < true - 1e-6).sum(dim=1) + 1  # float ties count for the true stem
    count = keys.shape[0]
    recall_curve = np.array([(ranks <= k).float().mean().item() for k in range(1, count + 1)])
    auc = float(np.trapezoid(recall_curve, dx=1.0 / max(count - 1, 1))) if count > 1 else 1.0
    normalized = ranks.float() / count
    return {
        "recall_at_1": float((ranks <= 1).float().mean()),
        "recall_at_5": float((ranks <= 5).float().mean()),
        "recall_at_10": float((ranks <= 10).float().mean()),
        "recall_auc": auc,
        "mean_normalized_rank": float(normalized.mean()),
        "median_normalized_rank": float(normalized.median()),
        "num_candidates": count,
    }


def stem_retrieval(
    model: StemJepaModel | StemJepaForPreTraining, songs: list, processor: StemJepaProcessor | None = None
) -> dict[str, float]:
    """The reference protocol: for every track and non-silent stem, predict it from the sum of the other stems,
    then rank the true stem among all non-silent stems of all tracks."""
    embedder = StemEmbedder(model, processor)
    queries, keys, silent = [], [], []
    was_training = [m.training for m in (embedder.context_encoder, embedder.key_encoder, embedder.predictor)]
    for module in (embedder.context_encoder, embedder.key_encoder, embedder.predictor):
        module.eval()
    try:
        for song in songs:
            stems = np.asarray(song.segment(0, song.num_samples), dtype=np.float32)
            active = embedder.config.active_stems(np.abs(stems).max(axis=1)).numpy()
            if not active.any():
                silent.append(song.name)
            for index in np.flatnonzero(active):
                others = np.delete(stems, index, axis=0).sum(axis=0)
                queries.append(embedder.query(others, song.instruments[index]))
                keys.append(embedder.key(stems[index]))
    finally:
        for module, mode in zip(
            (embedder.context_encoder, embedder.key_encoder, embedder.predictor), was_training, strict=True
        ):
            module.train(mode)
    if silent:
        logger.warning("stem retrieval leaves out %d silent song(s): %s", len(silent), ", ".join(silent))
    if len(keys) < 2:
        raise ValueError(
            f"stem retrieval needs at least 2 non-silent stems across the songs; found {len(keys)} (see "
            "silence_threshold and silence_mode)"
        )
    return retrieval_metrics(torch.stack(queries).cpu(), torch.stack(keys).cpu(), torch.arange(len(keys)))
