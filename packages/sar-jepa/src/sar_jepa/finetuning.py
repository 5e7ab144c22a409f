"""Few-shot fine-tuning as in the paper's evaluation: the whole encoder plus a linear head, from few labels.

Recipe (config `finetune_*`, the paper's values): AdamW, lr 1e-3, weight decay 5e-4, batch 50, 40 epochs,
the first 2 at a constant 1e-5, then cosine to 0; no augmentation.
"""

import copy
import math

import torch
from jepa_core.training import build_optimizer, cosine
from jepa_core.training.optim import set_schedules

from .configuration_sar_jepa import SarJepaConfig
from .modeling_sar_jepa import SarJepaForImageClassification, SarJepaModel


def finetune_classifier(
    encoder: SarJepaModel, pixel_values: torch.Tensor, labels: torch.Tensor, seed: int = 0
) -> tuple[SarJepaForImageClassification, list[float]]:
    """Fine-tune a copy of `encoder` with a fresh head on (pixel_values, labels) → (classifier, loss per epoch)."""
    if len(pixel_values) != len(labels) or len(labels) == 0:
        raise ValueError(f"fine-tuning needs as many labels as chips (>0), got {len(pixel_values)} and {len(labels)}")
    config: SarJepaConfig = copy.deepcopy(encoder.config)
    config.num_labels = int(labels.max()) + 1
    torch.manual_seed(seed)
    model = SarJepaForImageClassification(config)
    model.sar_jepa.load_state_dict(encoder.state_dict())
    model.to(next(encoder.parameters()).device).train()
    optimizer = build_optimizer(model, config.finetune_learning_rate, config.finetune_weight_decay)
    generator = torch.Generator().manual_seed(seed)
    batches_per_epoch = math.ceil(len(labels) / config.finetune_batch_size)
    warmup = config.finetune_warmup_epochs * batches_per_epoch
    total = config.finetune_epochs * batches_per_epoch
    step, history = 0, []
    for _ in range(config.finetune_epochs):
        order, losses = torch.randperm(len(labels), generator=generator), []
        for batch in order.split(config.finetune_batch_size):
            lr = config.finetune_warmup_learning_rate
            if step >= warmup:
                lr = cosine(step - warmup, total - warmup, config.finetune_learning_rate, 0.0)
            set_schedules(optimizer, lr, config.finetune_weight_decay)
            device = model.classifier.weight.device
            loss = model(pixel_values[batch].to(device), labels[batch].to(device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
        history.append(sum(losses) / len(losses))
    return model.eval(), history


@torch.no_grad()
def accuracy(model: SarJepaForImageClassification, pixel_values: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of `model` on (pixel_values, labels), in batches of 256."""
    device = model.classifier.weight.device
    logits = torch.cat([model(x.to(device)).logits.cpu() for x in pixel_values.split(256)])
    return float((logits.argmax(-1) == labels).float().mean())
