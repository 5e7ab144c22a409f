"""Retrieval metrics, the compatibility API and its command, and a short pretraining that beats random init."""

import librosa
import numpy as np
import pytest
import soundfile
import torch
from jepa_core.training import TrainingArguments, pretrain
from stem_jepa import StemJepaConfig, StemJepaForPreTraining, StemJepaModel, rank_stems, stem_retrieval
from stem_jepa.chorales import CHORALE_INSTRUMENTS, ScoreSong, synthetic_scores
from stem_jepa.cli import main as rank_command
from stem_jepa.data import AudioSong, StemChunks
from stem_jepa.domain import collator
from stem_jepa.retrieval import retrieval_metrics

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, pred_mlp_hidden_size=64, num_frames=64)


def test_retrieval_metrics_values():
    keys = torch.eye(4)
    perfect = retrieval_metrics(keys, keys, torch.arange(4))
    assert perfect["recall_at_1"] == 1.0 and perfect["median_normalized_rank"] == 0.25
    assert perfect["recall_auc"] == pytest.approx(1.0)
    shifted = retrieval_metrics(keys, keys, torch.tensor([1, 2, 3, 0]))  # every true key is tied-last: rank 2
    assert shifted["recall_at_1"] == 0.0 and shifted["recall_at_5"] == 1.0
    assert shifted["mean_normalized_rank"] == 0.5 and shifted["recall_auc"] == pytest.approx(5 / 6)


def songs(count, seed, config):
    return [
        ScoreSong(s["name"], list(CHORALE_INSTRUMENTS), s["voices"], config.sample_rate, s["key"], [0, 1, 2, 3])
        for s in synthetic_scores(count, seed)
    ]


def test_rank_stems_and_its_command(tmp_path, capsys):
    config = StemJepaConfig.from_preset("tiny", **SMALL)
    model = StemJepaModel(config).eval()
    song = songs(1, 0, config)[0]
    stems = song.segment(0, 3 * 16_000)
    scores, order = rank_stems(model, stems[1:].sum(0), list(stems), "soprano", sampling_rate=16_000)
    assert scores.shape == (4,) and sorted(order.tolist()) == [0, 1, 2, 3]
    # the same audio at 44.1 kHz is resampled to the model's rate: the same order
    up = [librosa.resample(s, orig_sr=16_000, target_sr=44_100) for s in (stems[1:].sum(0), *stems)]
    scores44, _ = rank_stems(model, up[0], up[1:], "soprano", sampling_rate=44_100)
    assert torch.allclose(scores44, scores, atol=0.02)
    with pytest.raises(TypeError, match="sampling_rate"):
        rank_stems(model, stems[1:].sum(0), list(stems), "soprano")
    assert scores[order[0]] >= scores[order[-1]] and scores.abs().max() <= 1.0 + 1e-5
    with pytest.raises(ValueError, match="unknown instrument"):
        rank_stems(model, stems[1:].sum(0), list(stems), "drums", sampling_rate=16_000)
    model.save_pretrained(tmp_path / "model")
    paths = []
    for name, audio in zip(["mix", *CHORALE_INSTRUMENTS], [stems[1:].sum(0), *stems], strict=True):
        paths.append(str(tmp_path / f"{name}.wav"))
        soundfile.write(paths[-1], audio, 16_000)
    assert rank_command([str(tmp_path / "model"), paths[0], *paths[1:], "--instrument", "soprano"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].split()[0] == "1." and str(paths[1 + int(order[0])]) in lines[0]
    assert rank_command([str(tmp_path / "model"), paths[0], str(tmp_path / "none.wav"), "--instrument", "alto"]) == 2


def test_rank_stems_bad_inputs_get_clear_errors():
    model = StemJepaModel(StemJepaConfig.from_preset("tiny", **SMALL)).eval()
    mix = np.ones(16_000, np.float32)
    with pytest.raises(ValueError, match="one mono track"):
        rank_stems(model, np.stack([mix, mix]), [mix], "bass", sampling_rate=16_000)
    with pytest.raises(ValueError, match="no candidate stems"):
        rank_stems(model, mix, [], "bass", sampling_rate=16_000)
    with pytest.raises(ValueError, match="outside"):
        rank_stems(model, mix, [mix], 4, sampling_rate=16_000)
    with pytest.raises(ValueError, match="shorter than n_fft"):
        rank_stems(model, mix, [mix[:100]], "bass", sampling_rate=16_000)


def test_retrieval_leaves_silent_stems_out_and_keeps_one_stem_tracks_as_candidates():
    config = StemJepaConfig.from_preset("tiny", **SMALL)
    stems = songs(2, 0, config)[0].segment(0, 2 * 16_000)
    silent = AudioSong("silent alto", stems * np.array([[1], [0], [1], [1]], np.float32), [0, 1, 2, 3])
    lone = AudioSong("one active stem", stems * np.array([[0], [0], [0], [1]], np.float32), [0, 1, 2, 3])
    metrics = stem_retrieval(StemJepaModel(config).eval(), [silent, lone])
    assert metrics["num_candidates"] == 4  # 3 + 1 non-silent stems; the lone one is predicted from silence
    quiet = AudioSong("quiet master", silent.stems * 0.05, [0, 1, 2, 3])  # peaks below the absolute 0.1
    assert stem_retrieval(StemJepaModel(config).eval(), [quiet, lone])["num_candidates"] == 4
    absolute = StemJepaConfig.from_preset("tiny", **SMALL, silence_mode="absolute")
    with pytest.raises(ValueError, match="at least 2 non-silent stems"):
        stem_retrieval(StemJepaModel(absolute).eval(), [quiet, AudioSong("q2", lone.stems * 0.05, [0, 1, 2, 3])])


def test_short_pretraining_lowers_the_loss_and_beats_random_init_at_retrieval(tmp_path):
    # 150 steps of 0.64-s chunks: ~7 CPU-s. A short-horizon EMA (as the tiny preset) so the EMA encoder moves.
    config = StemJepaConfig.from_preset(
        "tiny",
        max_steps=150,
        train_batch_size=16,
        learning_rate=1e-3,
        ema_momentum_start=0.9,
        ema_momentum_end=0.99,
        **SMALL,
    )
    torch.manual_seed(0)
    random_init = StemJepaModel(config)
    model = StemJepaForPreTraining(config)
    train = StemChunks(songs(24, 100, config), config.chunk_samples)
    args = TrainingArguments.from_config(config, str(tmp_path / "run"), show_progress=False, save_every=1000)
    metrics = pretrain(model, train, collator(config, 0), args)
    assert metrics["final_loss"] < 0.5 * metrics["initial_loss"]
    test = songs(12, 200, config)
    pretrained = stem_retrieval(model.export_encoder(), test)
    baseline = stem_retrieval(random_init, test)  # random encoder AND random predictor
    assert pretrained["num_candidates"] == baseline["num_candidates"] == 48
    assert 0.4 < baseline["recall_auc"] < 0.6 and baseline["median_normalized_rank"] > 0.4  # about chance
    assert pretrained["recall_auc"] > baseline["recall_auc"] + 0.15
    assert pretrained["median_normalized_rank"] < baseline["median_normalized_rank"] - 0.2
    assert pretrained["recall_at_10"] > baseline["recall_at_10"] + 0.1
    reloaded = StemJepaModel.from_pretrained(tmp_path / "run")
    assert stem_retrieval(reloaded, test) == pretrained
