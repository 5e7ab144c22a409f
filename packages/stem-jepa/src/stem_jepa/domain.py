"""The `stem-jepa` plugin for the `jepa` command."""

from jepa_core.domain import Domain

from .chorales import default_songs
from .configuration_stem_jepa import StemJepaConfig
from .data import default_dataset, load_dataset, load_split_songs
from .masking_stem_jepa import StemViewCollator
from .modeling_stem_jepa import StemJepaForPreTraining, StemJepaModel
from .retrieval import stem_retrieval


def collator(config: StemJepaConfig, seed: int = 0) -> StemViewCollator:
    return StemViewCollator(config, seed)


def evaluate(encoder: StemJepaModel, config: StemJepaConfig, data: str | None) -> dict[str, float]:
    """Stem retrieval on the test songs (embedded chorales, or `data`'s `test/` split or whole folder)."""
    songs = default_songs("test", config) if data is None else load_split_songs(data, "test", config)
    return stem_retrieval(encoder, songs)


DOMAIN = Domain(
    name="stem-jepa",
    distribution="jepa-stem",
    import_name="stem_jepa",
    description="musical stem compatibility: predict a missing stem from the mix of the others",
    paper_url="https://arxiv.org/abs/2408.02514",
    config_class=StemJepaConfig,
    model_class=StemJepaModel,
    pretraining_class=StemJepaForPreTraining,
    default_dataset=default_dataset,
    load_dataset=load_dataset,
    collator=collator,
    evaluate=evaluate,
    datasets=("music21 Bach chorales (rendered stems)",),
    license="apache-2.0",
)
