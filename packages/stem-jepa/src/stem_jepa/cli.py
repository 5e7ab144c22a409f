"""`stem-jepa-rank`: rank candidate stem files by how well they fit a mix, with a saved Stem-JEPA model."""

import argparse
import sys

import numpy as np
from jepa_core.processing import load_processor

from .data import read_mono
from .modeling_stem_jepa import StemJepaModel
from .processor_stem_jepa import StemJepaProcessor
from .retrieval import rank_stems


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stem-jepa-rank", description=__doc__)
    parser.add_argument("model", help="a folder written by `jepa pretrain stem-jepa` or save_pretrained")
    parser.add_argument("mix", help="audio file of the mix the stem should fit")
    parser.add_argument("candidates", nargs="+", help="audio files of candidate stems")
    parser.add_argument("--instrument", required=True, help="instrument class of the wanted stem, e.g. bass")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        model = StemJepaModel.from_pretrained(args.model).eval()
        processor = load_processor(args.model, StemJepaProcessor)  # the run's; None → the config's
        mix = read_mono(args.mix, model.config)
        candidates = [read_mono(path, model.config) for path in args.candidates]
        rate = model.config.sample_rate  # read_mono resamples to the model's rate
        scores, order = rank_stems(model, mix, candidates, args.instrument, processor, sampling_rate=rate)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"stem-jepa-rank: error: {error}", file=sys.stderr)
        return 2
    width = max(len(path) for path in args.candidates)
    for place, index in enumerate(order.tolist(), start=1):
        print(f"{place:>3}. {args.candidates[index]:<{width}}  score {scores[index].item():+.4f}")
    return 0 if np.isfinite(scores.numpy()).all() else 1
