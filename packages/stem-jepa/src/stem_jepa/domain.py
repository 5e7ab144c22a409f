"""The `stem-jepa` plugin for the `jepa` command.

Evaluation: the core's probes classify the instrument of each isolated, non-silent stem from its mean-pooled
embedding (`embed`: one row per stem, labelled with its instrument); the paper's protocol, stem retrieval on the
test songs, is `extra_metrics` and gives the headline, the AUC of the recall@k curve (`recall_auc`).
"""

import numpy as np
import torch
from jepa_core.domain import Domain
from jepa_core.evaluation import Embedded, pool_tokens

from .configuration_stem_jepa import StemJepaConfig
from .data import StemChunks, default_dataset, load_dataset
from .masking_stem_jepa import StemViewCollator
from .modeling_stem_jepa import StemJepaForPreTraining, StemJepaModel
from .processor_stem_jepa import StemJepaProcessor
from .retrieval import stem_retrieval

EMBED_BATCH = 64


def collator(config: StemJepaConfig, seed: int = 0) -> StemViewCollator:
    return StemViewCollator(config, seed)


def active_stems(dataset: StemChunks, config: StemJepaConfig):
    """(chunk id, instrument, stem waveform) of every non-silent stem of every chunk, in order."""
    for index in range(len(dataset)):
        sample = dataset[index]
        active = config.active_stems(sample["stems"].abs().amax(dim=-1)).tolist()
        for stem, instrument, on in zip(sample["stems"], sample["instruments"].tolist(), active, strict=True):
            if instrument >= 0 and on:
                yield dataset.ids[index], instrument, stem


@torch.no_grad()
def embed(encoder: StemJepaModel, dataset: StemChunks) -> Embedded:
    """Every non-silent stem of every chunk, on its own, through the encoder (mean over its tokens); labels are
    the instruments, ids `song@start/instrument`."""
    config, processor = encoder.config, dataset.processor
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    features, labels, ids, pending = [], [], [], []

    def flush() -> None:
        values = processor.spectrogram(torch.stack(pending)).to(device)
        hidden = encoder(input_values=values).last_hidden_state
        features.append(pool_tokens(hidden, "mean", config.num_register_tokens).float().cpu())
        pending.clear()

    try:
        for chunk_id, instrument, stem in active_stems(dataset, config):
            pending.append(stem)
            labels.append(instrument)
            ids.append(f"{chunk_id}/{config.instrument_names[instrument]}")
            if len(pending) == EMBED_BATCH:
                flush()
        if pending:
            flush()
    finally:
        encoder.train(was_training)
    if not features:
        raise ValueError("every stem of the data set is silent; nothing to embed (see config.silence_threshold)")
    return Embedded(torch.cat(features), np.asarray(labels, dtype=np.int64), ids)


def extra_metrics(encoder: StemJepaModel, train: StemChunks, test: StemChunks) -> dict[str, float]:
    """The paper's stem retrieval on the test songs (recall@k, recall-curve AUC, normalised ranks)."""
    return stem_retrieval(encoder, test.songs, test.processor)


def adapt_config(config: StemJepaConfig, dataset: StemChunks) -> StemJepaConfig:
    """The config to build for the training data: the instrument names its stem files give (`load_dataset` reads
    them; MUSDB's `bass`, `drums`, `other`, `vocals` under the tiny preset's chorale voices)."""
    adapted = getattr(dataset, "config", None)
    return adapted if adapted is not None else config


EXAMPLE_INPUT = """\
mix = np.random.default_rng(0).standard_normal(16000 * 8).astype(np.float32) * 0.1  # 8 s of audio at 16 kHz
inputs = processor(mix, sampling_rate=16000, return_tensors="pt")  # or an audio file path
"""

DOMAIN = Domain(
    name="stem-jepa",
    distribution="jepa-stem",
    import_name="stem_jepa",
    description="musical stem compatibility: predict a missing stem from the mix of the others",
    paper_url="https://arxiv.org/abs/2408.02514",
    config_class=StemJepaConfig,
    model_class=StemJepaModel,
    pretraining_class=StemJepaForPreTraining,
    processor_class=StemJepaProcessor,
    default_dataset=default_dataset,
    load_dataset=load_dataset,
    collator=collator,
    headline_metric="recall_auc",
    example_input=EXAMPLE_INPUT,
    embed=embed,
    extra_metrics=extra_metrics,
    adapt_config=adapt_config,
    embedded_data="72 four-voice Bach chorales from music21, rendered voice by voice (48 train, 24 test songs)",
    license="apache-2.0",
)
