import copy

import pytest
import torch
from jepa_core.ema import ema_update, momentum_schedule
from jepa_core.losses import jepa_loss, normalize_targets
from jepa_core.training import build_optimizer, cosine, parameter_groups, warmup_cosine
from torch import nn


def test_momentum_schedule_end_points():
    assert momentum_schedule(0, 100) == 0.996
    assert momentum_schedule(100, 100) == 1.0
    assert momentum_schedule(50, 100) == pytest.approx(0.998)


def test_ema_update_values():
    online, target = nn.Linear(2, 2), nn.Linear(2, 2)
    nn.init.constant_(online.weight, 1.0)
    nn.init.constant_(target.weight, 0.0)
    ema_update([(online, target)], 0.9)
    assert torch.allclose(target.weight, torch.full((2, 2), 0.1))
    ema_update([(online, target)], 1.0)
    assert torch.allclose(target.weight, torch.full((2, 2), 0.1))
    with pytest.raises(ValueError):
        ema_update([(online, target)], 1.5)


def test_losses_against_hand_computation():
    pred, target = torch.tensor([[0.0, 2.0]]), torch.tensor([[0.5, 0.0]])
    assert jepa_loss(pred, target, "l1").item() == pytest.approx((0.5 + 2.0) / 2)
    assert jepa_loss(pred, target, "l2").item() == pytest.approx((0.25 + 4.0) / 2)
    assert jepa_loss(pred, target, "smooth_l1").item() == pytest.approx((0.5 * 0.25 + 1.5) / 2)
    assert jepa_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), "cosine").item() == pytest.approx(1.0)
    normed = normalize_targets(torch.tensor([[1.0, 3.0]]))
    assert torch.allclose(normed, torch.tensor([[-1.0, 1.0]]), atol=1e-4)
    with pytest.raises(ValueError, match="unknown loss"):
        jepa_loss(pred, target, "huber2")
    with pytest.raises(ValueError, match="shape"):
        jepa_loss(pred, target[:, :1])


def test_schedules_end_points():
    assert warmup_cosine(0, 100, 10, 2e-4, 1e-3, 1e-6) == pytest.approx(2e-4)
    assert warmup_cosine(10, 100, 10, 2e-4, 1e-3, 1e-6) == pytest.approx(1e-3)
    assert warmup_cosine(100, 100, 10, 2e-4, 1e-3, 1e-6) == pytest.approx(1e-6)
    assert cosine(0, 100, 0.04, 0.4) == pytest.approx(0.04)
    assert cosine(100, 100, 0.04, 0.4) == pytest.approx(0.4)
    assert cosine(50, 100, 0.04, 0.4) == pytest.approx(0.22)


def test_parameter_groups_exclude_bias_and_norms():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    decay, no_decay = parameter_groups(model, 0.05)
    assert [p.shape for p in decay["params"]] == [(4, 3)]
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


def test_build_optimizer_uses_the_fused_kernel_with_the_same_update():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    reference = copy.deepcopy(model)
    fused = build_optimizer(model, 0.1, 0.05)
    plain = torch.optim.AdamW(parameter_groups(reference, 0.05), lr=0.1, foreach=False)
    assert fused.defaults["fused"]
    for _ in range(3):
        for net, optimizer in ((model, fused), (reference, plain)):
            net(torch.randn(5, 3, generator=torch.Generator().manual_seed(1))).pow(2).sum().backward()
            optimizer.step()
            optimizer.zero_grad()
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_training_arguments_take_optimizer_settings_from_the_config(tmp_path):
    from jepa_core.training import TrainingArguments, pretrain
    from toy_domain import ToyConfig, ToyForPreTraining, toy_collator, toy_default_dataset

    config = ToyConfig.from_preset("tiny", train_batch_size=12, max_steps=9)
    args = TrainingArguments.from_config(config, str(tmp_path), max_steps=3, show_progress=False)
    assert (args.batch_size, args.max_steps) == (12, 3)
    with pytest.raises(TypeError, match="live in the model config"):
        TrainingArguments.from_config(config, str(tmp_path), learning_rate=1.0)

    frozen = ToyConfig.from_preset("tiny", learning_rate=0.0, start_learning_rate=0.0, final_learning_rate=0.0)
    frozen.weight_decay = frozen.final_weight_decay = 0.0
    model = ToyForPreTraining(frozen)
    before = {k: v.clone() for k, v in model.context_encoder.state_dict().items()}
    pretrain(model, toy_default_dataset("train", frozen), toy_collator(frozen), args)
    after = model.context_encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the config's zero learning rate was used
