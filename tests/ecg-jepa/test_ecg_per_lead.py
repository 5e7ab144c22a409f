"""Kim et al.'s per-lead ECG-JEPA (spec §1.7): presets, CroPA, 2-D positions, lead subsets, per-lead predictor,
shared time masks, save → load, and a short `jepa pretrain ecg-jepa --preset tiny_per_lead` run."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from ecg_jepa import (
    STANDARD_LEADS,
    EcgJepaConfig,
    EcgJepaModel,
    EcgJepaPerLeadConfig,
    EcgJepaPerLeadForPreTraining,
    EcgJepaPerLeadForSequenceClassification,
    EcgJepaPerLeadModel,
    EcgJepaProcessor,
    EcgMaskCollator,
)
from ecg_jepa.modeling_ecg_jepa import cross_pattern_mask
from huggingface_hub.errors import StrictDataclassClassValidationError
from jepa_core.cli import main
from jepa_core.layers import sincos_1d
from jepa_core.runs import open_run
from transformers import AutoModel, AutoModelForPreTraining, AutoModelForSequenceClassification


@pytest.fixture
def tiny():
    return EcgJepaPerLeadConfig.from_preset("tiny_per_lead")


def time_mask(collator: EcgMaskCollator, num_patches: int, batch_size: int = 3, leads: int = 8) -> torch.Tensor:
    """Draw one batch; check it is one time-only mask shared by every sample and lead; return it (P,) bool."""
    batch = collator.sample_masks({"input_values": torch.zeros(batch_size, leads, 50 * num_patches)})
    context, target = batch["context_indices"], batch["target_indices"]
    assert torch.equal(context, context[:1].expand_as(context)) and torch.equal(target, target[:1].expand_as(target))
    assert context.shape[1] % leads == 0 and target.shape[1] % leads == 0
    offsets = num_patches * torch.arange(leads)[:, None]
    times = target[0, : target.shape[1] // leads]
    assert torch.equal(target[0], (times + offsets).flatten())  # lead-major, the same times for every lead
    assert torch.equal(context[0], (context[0, : context.shape[1] // leads] + offsets).flatten())
    assert torch.equal(torch.cat([context[0], target[0]]).sort().values, torch.arange(leads * num_patches))
    masked = torch.zeros(num_patches, dtype=torch.bool)
    masked[times] = True
    return masked


def test_per_lead_B_preset_has_the_papers_values():
    config = EcgJepaPerLeadConfig.from_preset("per_lead_B")
    assert config.lead_names == ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"] and config.num_leads == 8
    assert (config.sampling_rate, config.signal_length, config.patch_size, config.num_patches) == (250, 2500, 50, 50)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 16)
    assert (config.pred_hidden_size, config.pred_num_hidden_layers, config.pred_num_attention_heads) == (384, 6, 12)
    assert (config.drop_path_rate, config.qkv_bias, config.num_register_tokens) == (0.1, False, 0)
    assert (config.loss_type, config.normalize_targets) == ("smooth_l1", True)
    assert (config.ema_momentum_start, config.ema_momentum_end) == (0.996, 1.0)
    assert (config.weight_decay, config.learning_rate, config.train_batch_size) == (0.05, 5e-5, 64)
    assert (config.mask_strategy, config.num_mask_blocks) == ("block", 4)
    assert (config.block_mask_scale_min, config.block_mask_scale_max) == (0.175, 0.225)
    random = EcgJepaPerLeadConfig.from_preset("per_lead_B_random")
    assert (random.mask_strategy, random.random_mask_ratio_min, random.random_mask_ratio_max) == ("random", 0.6, 0.7)
    assert (random.learning_rate, random.train_batch_size) == (2.5e-5, 128)
    assert config.model_type == "jepa_ecg_per_lead" and EcgJepaConfig.model_type == "jepa_ecg"
    assert "per_lead_B" not in EcgJepaConfig.presets  # the 12-lead class stays Weimann & Conrad's model
    defaults, preset = EcgJepaPerLeadConfig().to_dict(), config.to_dict()
    assert {k: v for k, v in defaults.items() if k != "preset"} == {k: v for k, v in preset.items() if k != "preset"}
    with torch.device("meta"):
        model = EcgJepaPerLeadForPreTraining(config)
    embed = model.context_encoder.patch_embed
    assert isinstance(embed, torch.nn.Linear) and (embed.in_features, embed.out_features) == (50, 768)
    assert model.context_encoder.pos_embed.shape == (8, 50, 768) and model.predictor_pos_embed.shape == (50, 384)
    assert len(model.predictor.blocks) == 6 and model.predictor.blocks[0].attn.num_heads == 12
    assert model.context_encoder.encoder.blocks[0].attn.num_heads == 16


def test_cross_pattern_mask_allows_only_the_same_lead_or_the_same_time_patch():
    leads, patches = 3, 4
    ids = torch.arange(leads * patches)[None]
    mask = cross_pattern_mask(ids, patches)[0, 0]
    for query in range(leads * patches):
        for key in range(leads * patches):
            same_lead, same_time = query // patches == key // patches, query % patches == key % patches
            assert bool(mask[query, key]) == (same_lead or same_time), (query, key)
    assert mask.sum(1).tolist() == [patches + leads - 1] * (leads * patches)
    # a kept subset (lead·P + time ids) keeps exactly the pairs of the full mask
    kept = torch.tensor([[0, 2, 5, 6, 11]])
    torch.testing.assert_close(cross_pattern_mask(kept, patches)[0, 0], mask[kept[0]][:, kept[0]])


def test_one_block_spreads_a_change_only_along_its_lead_and_time_patch(tiny):
    torch.manual_seed(0)
    config = EcgJepaPerLeadConfig.from_preset("tiny_per_lead", num_hidden_layers=1)
    model = EcgJepaPerLeadModel(config).eval()
    x = torch.randn(1, 8, 1250)
    changed = x.clone()
    changed[0, 2, 150:200] += 5.0  # lead V1 (row 2), time patch 3
    diff = (model(changed).last_hidden_state - model(x).last_hidden_state).abs().amax(-1).reshape(8, 25)
    reached = torch.zeros(8, 25, dtype=torch.bool)
    reached[2, :] = reached[:, 3] = True
    assert (diff[reached] > 1e-6).all() and (diff[~reached] == 0).all()
    full_config = EcgJepaPerLeadConfig.from_preset("tiny_per_lead", num_hidden_layers=1, cross_pattern_attention=False)
    full = EcgJepaPerLeadModel(full_config)
    full.load_state_dict(model.state_dict())
    spread = (full.eval()(changed).last_hidden_state - full(x).last_hidden_state).abs().amax(-1)
    assert (spread > 1e-6).all()  # without CroPA every token sees the change


def test_2d_positions_are_added_before_every_block(tiny):
    torch.manual_seed(0)
    model = EcgJepaPerLeadModel(tiny).eval()
    half = tiny.hidden_size // 2  # first half encodes the time patch, second half the lead (MAE's 2-D layout)
    torch.testing.assert_close(model.pos_embed[5, 7, :half], sincos_1d(torch.tensor([7]), half)[0])
    torch.testing.assert_close(model.pos_embed[5, 7, half:], sincos_1d(torch.tensor([5]), half)[0])
    x = torch.randn(2, 8, 500)  # a 2-s input uses time positions 0–9 of each lead
    tokens = model.patch_embed(x.reshape(2, 80, 50))
    positions = model.pos_embed[:, :10].reshape(80, -1)
    lead, time = torch.arange(80) // 10, torch.arange(80) % 10
    allowed = (lead[:, None] == lead[None]) | (time[:, None] == time[None])
    for block in model.encoder.blocks:
        tokens = block(tokens + positions, allowed)
    out = model(x).last_hidden_state
    assert out.shape == (2, 80, 64)
    torch.testing.assert_close(out, model.encoder.norm(tokens))


def test_lead_subsets_slice_positions_and_the_mask(tiny):
    torch.manual_seed(0)
    model = EcgJepaPerLeadModel(tiny).eval()
    x = torch.randn(2, 8, 1250)
    subset = model(x[:, [0, 5]], leads=["i", "V4"]).last_hidden_state
    assert subset.shape == (2, 50, 64)
    # the same as the full record with only those leads' tokens kept
    kept = torch.cat([torch.arange(25), 5 * 25 + torch.arange(25)]).expand(2, -1)
    torch.testing.assert_close(subset, model(x, indices=kept).last_hidden_state)
    torch.testing.assert_close(subset, model(x[:, [0, 5]], leads=[0, 5]).last_hidden_state)
    assert not torch.allclose(subset, model(x[:, [0, 5]], leads=["I", "V3"]).last_hidden_state)


def test_pretraining_forward_is_smooth_l1_on_layer_normed_targets_and_predicts_per_lead(tiny):
    torch.manual_seed(0)
    model = EcgJepaPerLeadForPreTraining(tiny)
    batch = EcgMaskCollator.from_config(tiny, seed=0)([{"input_values": torch.randn(8, 1250)} for _ in range(2)])
    out = model(**batch)
    num_target = batch["target_indices"].shape[1]
    assert out.predictions.shape == out.targets.shape == (2, num_target, 64)
    full = model.target.encoder(batch["input_values"]).last_hidden_state
    gathered = torch.gather(full, 1, batch["target_indices"][..., None].expand(-1, -1, 64))
    torch.testing.assert_close(out.targets, gathered)
    torch.testing.assert_close(out.loss, F.smooth_l1_loss(out.predictions, F.layer_norm(out.targets, (64,))))
    # the predictor runs per lead: changing lead 1's context leaves every other lead's predictions unchanged
    context = model.context_encoder(batch["input_values"], indices=batch["context_indices"]).last_hidden_state
    args = batch["context_indices"], batch["target_indices"], model.predictor_pos_embed, 8, 25
    changed = context.clone()
    per_lead = context.shape[1] // 8
    changed[:, per_lead : 2 * per_lead] += 1.0
    diff = (model.predictor(changed, *args) - model.predictor(context, *args)).abs().amax(-1).reshape(2, 8, -1)
    assert (diff[:, 1] > 1e-4).all() and (diff[:, [0, *range(2, 8)]] == 0).all()
    with pytest.raises(ValueError, match="time-only mask"):  # leads with different time patches
        model(context_indices=torch.arange(8)[None] * 25, target_indices=torch.arange(1, 9)[None] * 25,
              input_values=batch["input_values"][:1])  # fmt: skip


def test_block_masks_match_the_analytic_coverage():
    collator = EcgMaskCollator(50, strategy="block", num_token_leads=8, seed=0)
    draws = torch.stack([time_mask(collator, 50) for _ in range(1500)]).float()
    # each block: n = ⌊50·U(0.175, 0.225)⌋ ∈ {8: 0.1, 9: 0.4, 10: 0.4, 11: 0.1}, start uniform over 0 … 50 − n
    lengths = {8: 0.1, 9: 0.4, 10: 0.4, 11: 0.1}
    position = torch.arange(50)
    miss = torch.zeros(50)
    for n, p in lengths.items():
        starts = (position.clamp(max=50 - n) - (position - n + 1).clamp(min=0) + 1).float()
        miss += p * (1 - starts / (51 - n))
    expected = 1 - miss**4  # four independent blocks
    assert (draws.mean(0) - expected).abs().max() < 0.05  # binomial sd ≤ 0.013 per position
    assert abs(draws.mean().item() - expected.mean().item()) < 0.01
    assert draws[:, [0, -1]].mean() > 0.05  # the first and the last patch are reachable (not in the reference)
    runs = (draws[:, 1:] > draws[:, :-1]).sum(1) + draws[:, 0]
    assert runs.max() <= 4 and draws.sum(1).min() >= 8 and draws.sum(1).max() <= 44


def test_random_masks_mask_60_to_70_percent_uniformly():
    collator = EcgMaskCollator(50, strategy="random", num_token_leads=8, seed=1)
    draws = torch.stack([time_mask(collator, 50) for _ in range(1500)]).float()
    counts = draws.sum(1).long()
    assert counts.min() == 30 and counts.max() == 34  # ⌊50·U(0.6, 0.7)⌋, each value with probability 0.2
    assert (torch.bincount(counts)[30:] / 1500 - 0.2).abs().max() < 0.04
    assert (draws.mean(0) - 32 / 50).abs().max() < 0.05  # every patch equally likely


def test_masks_replay_from_the_seed_and_resume_from_the_state(tiny):
    first, again = EcgMaskCollator.from_config(tiny, seed=4), EcgMaskCollator.from_config(tiny, seed=4)
    assert (first.strategy, first.num_token_leads) == ("block", 8)
    draws = [time_mask(first, 25) for _ in range(3)]
    assert all(torch.equal(a, time_mask(again, 25)) for a in draws)
    state = first.state_dict()
    expected = time_mask(first, 25)
    first.load_state_dict(state)
    assert torch.equal(time_mask(first, 25), expected)


def test_save_and_load_give_identical_outputs(tiny, tmp_path):
    torch.manual_seed(0)
    model = EcgJepaPerLeadForPreTraining(tiny).eval()
    model.save_pretrained(tmp_path / "pretraining")
    model.export_encoder().save_pretrained(tmp_path / "encoder")
    encoder = AutoModel.from_pretrained(tmp_path / "encoder").eval()
    assert isinstance(encoder, EcgJepaPerLeadModel) and isinstance(encoder.config, EcgJepaPerLeadConfig)
    x = torch.randn(2, 8, 1250)
    torch.testing.assert_close(encoder(x).last_hidden_state, model.export_encoder()(x).last_hidden_state, rtol=0,
                               atol=0)  # fmt: skip
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path / "pretraining").eval()
    batch = EcgMaskCollator.from_config(tiny, seed=0)([{"input_values": row} for row in x])
    torch.testing.assert_close(reloaded(**batch).loss, model(**batch).loss, rtol=0, atol=0)
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path / "encoder", num_labels=3).eval()
    assert isinstance(classifier, EcgJepaPerLeadForSequenceClassification)
    torch.testing.assert_close(classifier.ecg_jepa(x).last_hidden_state, encoder(x).last_hidden_state)
    assert classifier(x[:, None].expand(-1, 2, -1, -1)).logits.shape == (2, 3)  # crop-averaged logits


def test_residual_projections_are_scaled_per_layer_at_init():
    config = EcgJepaPerLeadConfig.from_preset("tiny_per_lead", hidden_size=256, num_hidden_layers=4,
                                              pred_hidden_size=256, pred_num_hidden_layers=4)  # fmt: skip
    model = EcgJepaPerLeadForPreTraining(config)
    for trunk in (model.context_encoder.encoder, model.predictor):
        for layer, block in enumerate(trunk.blocks, start=1):
            expected = 0.02 / math.sqrt(2 * layer)  # Kim et al.'s (I-JEPA's) fix_init_weight
            assert abs(block.mlp.fc2.weight.std().item() - expected) < 0.05 * expected
            assert abs(block.attn.proj.weight.std().item() - expected) < 0.05 * expected
    assert abs(model.predictor.mask_token.std().item() - 0.02) < 0.005


def test_processor_picks_the_eight_leads_by_name_at_250_hz(tiny):
    t = torch.arange(5000) / 500
    record = torch.stack([torch.sin(2 * torch.pi * (lead + 1) * t) for lead in range(12)]).numpy()
    order = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    processor = EcgJepaProcessor.from_config(tiny, lead_mean=[0.0] * 8, lead_std=[1.0] * 8, clip_value=10)
    out = processor.process(record[order], 500, [STANDARD_LEADS[i].upper() for i in order])
    rows = [STANDARD_LEADS.index(name) for name in tiny.lead_names]  # I, II, V1–V6
    assert out.shape == (8, 2500) and rows == [0, 1, 6, 7, 8, 9, 10, 11]
    torch.testing.assert_close(out, torch.from_numpy(record[rows, ::2]).float(), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="lacks lead"):
        processor.process(record[:8], 500, ["I", "II", "V1", "V2", "V3", "V4", "V5", "X"])


def test_bad_configs_and_inputs_get_clear_errors(tiny):
    model = EcgJepaPerLeadModel(tiny)
    with pytest.raises(ValueError, match="takes an EcgJepaConfig, got EcgJepaPerLeadConfig"):
        EcgJepaModel(tiny)
    with pytest.raises(ValueError, match="8 leads I, II, V1.*select and order the leads by name"):
        model(torch.randn(1, 12, 1250))
    with pytest.raises(ValueError, match="unknown lead 'aVR'"):
        model(torch.randn(1, 1, 1250), leads=["aVR"])
    with pytest.raises(ValueError, match="multiple of the patch size 50"):
        model(torch.randn(1, 8, 1240))
    with pytest.raises(ValueError, match="at most 1250"):
        model(torch.randn(1, 8, 2500))
    bad = [
        ({"lead_names": ["I", "II", "V1"]}, "lead_names has 3 names but num_leads is 8"),
        ({"lead_names": ["I", "II", "V1", "V2", "V3", "V4", "V5", "X"]}, "distinct standard lead names"),
        ({"hidden_size": 66, "num_attention_heads": 2}, "divisible by 4"),
        ({"num_register_tokens": 1}, "no register tokens"),
        ({"num_mask_blocks": 8}, "can mask nothing or every patch"),
        ({"mask_strategy": "random", "random_mask_ratio_min": 0.01, "random_mask_ratio_max": 0.02}, "masks nothing"),
    ]
    for overrides, message in bad:
        with pytest.raises(StrictDataclassClassValidationError, match=message):
            EcgJepaPerLeadConfig.from_preset("tiny_per_lead", **overrides)


def test_jepa_pretrain_with_the_tiny_per_lead_preset_lowers_the_loss(tmp_path):
    argv = ["pretrain", "ecg-jepa", "--preset", "tiny_per_lead", "--max-steps", "40", "--batch-size", "16",
            "--threads", "1", "--output-dir", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())["train"]
    assert metrics["final_loss"] < 0.85 * metrics["initial_loss"]  # 0.434 → 0.297 measured
    encoder = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(encoder, EcgJepaPerLeadModel) and encoder.config.preset == "tiny_per_lead"
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["lead_names"] == encoder.config.lead_names and saved["sampling_rate"] == 250
    opened = open_run(tmp_path)  # what `jepa evaluate / score / embed` do: the domain from the per-lead model_type
    assert opened.domain.name == "ecg-jepa" and isinstance(opened.encoder, EcgJepaPerLeadModel)
    assert isinstance(opened.processor, EcgJepaProcessor) and opened.processor.lead_names == encoder.config.lead_names
    x = torch.randn(1, 8, 1250)
    reloaded = EcgJepaPerLeadModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(reloaded(x).last_hidden_state, encoder(x).last_hidden_state, rtol=0, atol=0)
