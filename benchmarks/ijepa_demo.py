"""What `jepa demo ijepa` does, through the same Domain functions: pretrain the tiny preset on the embedded
MNIST digits, then linear-probe the pretrained target encoder against a random-init encoder.

Run: `.venv/bin/python benchmarks/ijepa_demo.py [output_dir]`
"""

import json
import sys
import tempfile
import time

import torch
from ijepa.domain import DOMAIN
from jepa_core.training import TrainingArguments, pretrain
from transformers import AutoModel


def main() -> None:
    start = time.perf_counter()
    output_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="ijepa_demo_")
    config = DOMAIN.config_class.from_preset("tiny")
    torch.manual_seed(0)
    model = DOMAIN.pretraining_class(config)
    args = TrainingArguments.from_config(config, output_dir, show_progress=False)
    train = pretrain(model, DOMAIN.default_dataset("train", config), DOMAIN.collator(config, 0), args)
    trained_s = time.perf_counter() - start
    encoder = AutoModel.from_pretrained(output_dir)
    pretrained = DOMAIN.evaluate(encoder, config, None)
    torch.manual_seed(0)
    random_init = DOMAIN.evaluate(DOMAIN.model_class(config), config, None)
    result = {
        "train": train, "pretrain_seconds": round(trained_s, 1), "total_seconds": round(time.perf_counter() - start, 1),
        "pretrained": pretrained, "random_init": random_init, "threads": torch.get_num_threads(),
    }  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
