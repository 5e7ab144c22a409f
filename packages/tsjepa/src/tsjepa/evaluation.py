"""Evaluation of a frozen TS-JEPA on the core contract.

`embed` gives the windows the pole-length probe sees (the core fits the linear / k-NN probes: the headline is
`linear_probe_accuracy`); `extra_metrics` is the paper's protocol: the semantic actor's command NMAE over the
prediction horizon (only where the data recorded commands) and, on the embedded simulator, closed-loop control of
parallel cart-poles over the capacity-limited uplink against the raw-window baseline.
"""

import math

import numpy as np
import torch
from jepa_core.evaluation import Embedded

from .cartpole import CartPoleParams, LqrExpert, initial_states, render_frames, step
from .channel import Uplink, payload_bits, quantize
from .configuration_tsjepa import TimeSeriesJepaConfig
from .data import TrajectoryDataset
from .modeling_tsjepa import SemanticActor, TimeSeriesJepaModel, gather_commands, gather_windows
from .processor_tsjepa import TimeSeriesJepaProcessor

FALLEN_ANGLE = 0.21  # rad (12°, Gymnasium's threshold): beyond it a pole counts as fallen
POLICIES = ("tsjepa", "tsjepa_hold", "raw_window", "raw_reading", "expert")


def sample_anchors(dataset: TrajectoryDataset, config: TimeSeriesJepaConfig, per_trajectory: int, seed: int):
    """(trajectory ids, anchor steps) with room for a window before and the horizon after each anchor."""
    length = dataset.tensors["series"].shape[2]
    generator = torch.Generator().manual_seed(seed)
    ids = torch.arange(dataset.num_trajectories).repeat_interleave(per_trajectory)
    anchors = torch.randint(
        config.window_size - 1, length - config.prediction_horizon, (len(ids),), generator=generator
    )
    return ids, anchors


PROBE_SEEDS = {"train": 1, "test": 2}


def probe_anchors(dataset: TrajectoryDataset, config: TimeSeriesJepaConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(trajectory ids, anchor steps) of the windows `embed` embeds: `probe_windows_per_trajectory` seeded random
    anchors per trajectory in the train and test splits, the last window of each trajectory in "all" (what
    `model(**processor(series))` embeds)."""
    if dataset.split in PROBE_SEEDS:
        return sample_anchors(dataset, config, config.probe_windows_per_trajectory, PROBE_SEEDS[dataset.split])
    length = dataset.tensors["series"].shape[2]
    return torch.arange(dataset.num_trajectories), torch.full((dataset.num_trajectories,), length - 1)


@torch.no_grad()
def embed(encoder: TimeSeriesJepaModel, dataset: TrajectoryDataset) -> Embedded:
    """Window embeddings (M, D) for the probes, with the trajectories' labels and ids `trajectory@anchor` (in the
    "all" split one row per trajectory, its id)."""
    config = encoder.config
    ids, anchors = probe_anchors(dataset, config)
    windows = anchors[:, None] - config.window_size + 1 + torch.arange(config.window_size)
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    try:
        features = []
        for chunk, index in zip(ids.split(1024), windows.split(1024), strict=True):
            series = dataset.tensors["series"][chunk].to(device)
            features.append(encoder(series, indices=index.to(device)).pooler_output.float().cpu())
    finally:
        encoder.train(was_training)
    labels = dataset.labels
    names = [dataset.ids[i] for i in ids.tolist()]
    if dataset.split in PROBE_SEEDS:
        names = [f"{name}@{anchor}" for name, anchor in zip(names, anchors.tolist(), strict=True)]
    return Embedded(torch.cat(features), None if labels is None else labels[ids].numpy(), names)


@torch.no_grad()
def window_views(model: TimeSeriesJepaModel, dataset: TrajectoryDataset, per_trajectory: int, seed: int) -> dict:
    """Embeddings, raw windows, horizon commands and expert commands at sampled anchors."""
    config = model.config
    ids, anchors = sample_anchors(dataset, config, per_trajectory, seed)
    series = dataset.tensors["series"][ids]
    context = anchors[:, None] - config.window_size + 1 + torch.arange(config.window_size)
    horizon = anchors[:, None] + torch.arange(config.prediction_horizon)
    windows = gather_windows(series, context)
    expert = dataset.tensors.get("expert_commands", dataset.tensors["commands"])[ids]
    model.eval()
    embeddings = torch.cat([model.encoder(chunk) for chunk in windows.split(1024)])
    return {
        "embeddings": embeddings,
        "windows": windows.flatten(1),
        "readings": windows[:, :, -1],
        "commands": gather_commands(dataset.tensors["commands"][ids], horizon),
        "expert_now": gather_commands(expert, anchors[:, None])[:, 0],
        "expert_future": gather_commands(expert, horizon + 1),
        "labels": dataset.tensors["labels"][ids] if "labels" in dataset.tensors else None,
    }


def actor_inputs(latents: torch.Tensor, config: TimeSeriesJepaConfig) -> torch.Tensor:
    """Latents as the semantic actor sees them: unit-normalised when `actor_unit_latents` (the cosine loss fixes
    predicted latents only up to their norm)."""
    return torch.nn.functional.normalize(latents, dim=-1) if config.actor_unit_latents else latents


def train_actor(
    inputs: torch.Tensor, targets: torch.Tensor, config: TimeSeriesJepaConfig, seed: int = 0
) -> SemanticActor:
    """Fit a semantic actor (MSE, AdamW) on frozen inputs (N, F) → standardised commands (N, K)."""
    torch.manual_seed(seed)
    actor = SemanticActor(config, input_size=inputs.shape[1])
    mean, std = inputs.mean(0), inputs.std(0).clamp_min(1e-8)
    actor.input_mean.copy_(mean)
    actor.input_std.copy_(std)
    optimizer = torch.optim.AdamW(actor.parameters(), lr=config.actor_learning_rate)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(inputs) // config.actor_batch_size)
    total = config.actor_epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
    actor.train()
    for _ in range(config.actor_epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for batch in order[: steps_per_epoch * config.actor_batch_size].split(config.actor_batch_size):
            loss = torch.nn.functional.mse_loss(actor(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return actor.eval()


def nmae(predicted: np.ndarray, expert: np.ndarray) -> float:
    """Normalised mean absolute error Σ|û − u*| / Σ|u*| (physical units); NaN (undefined) when Σ|u*| = 0."""
    scale = np.abs(expert).sum()
    return float(np.abs(predicted - expert).sum() / scale) if scale > 0 else math.nan


@torch.no_grad()
def command_errors(model, actor, views: dict, processor: TimeSeriesJepaProcessor) -> dict[str, float]:
    """NMAE of the actor on received embeddings (step 0) and on the predictor's roll-out over the horizon."""
    config = model.config
    now = actor(actor_inputs(views["embeddings"], config)).numpy()
    rolled = actor_inputs(model.rollout(views["embeddings"], views["commands"]), config)
    future = actor(rolled.flatten(0, 1)).unflatten(0, rolled.shape[:2]).numpy()
    physical = processor.physical_commands
    per_step = [
        nmae(physical(future[:, j]), physical(views["expert_future"][:, j].numpy())) for j in range(future.shape[1])
    ]
    return {
        "command_nmae_received": nmae(physical(now), physical(views["expert_now"].numpy())),
        "command_nmae_horizon": float(np.mean(per_step)),
        "command_nmae_last_step": per_step[-1],
    }


def packet_bits(policy: str, config: TimeSeriesJepaConfig) -> int:
    """Bits of one device's packet under `policy`: its quantised embedding, window or latest reading (0: expert)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if policy == "expert":
        return 0
    if policy.startswith("tsjepa"):
        return payload_bits(config.hidden_size, config.embedding_bits)
    return payload_bits(config.num_channels * (config.window_size if policy == "raw_window" else 1), config.raw_bits)


def default_capacity(config: TimeSeriesJepaConfig) -> int:
    """Room for a quarter of the devices' embeddings per step (at least one)."""
    return payload_bits(config.hidden_size, config.embedding_bits) * max(1, config.num_devices // 4)


@torch.no_grad()
def control_loop(
    policy: str,
    model: TimeSeriesJepaModel | None,
    actor: SemanticActor | None,
    processor: TimeSeriesJepaProcessor,
    config: TimeSeriesJepaConfig,
    capacity_bits: int,
    num_devices: int,
    packet_loss: float,
    seed: int = 0,
) -> dict[str, float]:
    """Run `num_devices` cart-poles for `control_steps` steps with commands computed at the remote by `policy`.

    The first `window_size` steps are driven by the expert (the device fills its window). Then each step the
    uplink delivers some devices' packets: TS-JEPA sends the quantised embedding of the current window, and for
    the others the remote rolls the last latent forward with the last command ("tsjepa_hold" holds the last
    command instead); "raw_window" / "raw_reading" send the quantised window / latest reading and hold the last
    command otherwise; "expert" is the LQR on the true state with a perfect link. Downlink commands are not lost.
    Returns the command NMAE against the expert at the true state (while the pole is up), the share of device-steps
    within the paper's tolerance, the share of poles upright throughout and the bits sent per step (never above
    `capacity_bits`).
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if config.control_steps <= config.window_size:
        raise ValueError(
            f"control_steps ({config.control_steps}) must exceed window_size ({config.window_size}): the first "
            "window_size steps only fill the device's window"
        )
    params = CartPoleParams()
    rng = np.random.default_rng(seed)
    half_lengths = np.asarray(config.pole_half_lengths)[np.arange(num_devices) % len(config.pole_half_lengths)]
    expert = LqrExpert(half_lengths, params)
    state = initial_states(num_devices, rng)
    sensor_noise = np.array([0.005, 0.02, 0.002, 0.02])
    bits = config.embedding_bits if policy.startswith("tsjepa") else config.raw_bits
    uplink = (
        Uplink(capacity_bits, packet_bits(policy, config), num_devices, packet_loss, seed, config.scheduler)
        if policy != "expert"
        else None
    )
    window = np.zeros((num_devices, config.num_channels, config.window_size), dtype=np.float32)
    latent, command = None, np.zeros(num_devices)
    within, upright, bits_sent, applied, wanted = [], [], [], [], []
    for t in range(config.control_steps):
        if config.observation == "frames":
            reading = render_frames(state, half_lengths, config.frame_height, config.frame_width)
            reading = reading.reshape(num_devices, -1)
        else:
            reading = state + sensor_noise * rng.standard_normal(state.shape)
        window = np.concatenate([window[:, :, 1:], processor.normalize_series(reading[:, :, None])], axis=2)
        if t < config.window_size or policy == "expert":
            command = expert(state)
        else:
            delivered, sent = uplink.step()
            bits_sent.append(sent)
            normalized_command = torch.from_numpy(processor.normalize_commands(command[:, None, None])[:, :, 0]).float()
            if policy.startswith("tsjepa"):
                fresh = torch.from_numpy(quantize(model.encoder(torch.from_numpy(window)).numpy(), bits))
                if latent is None:
                    latent = fresh.clone()
                elif policy == "tsjepa":
                    latent = model.predictor(latent, normalized_command)
                latent[delivered] = fresh[delivered]
                proposal = actor(actor_inputs(latent, config)).numpy()
            else:
                observed = window.reshape(num_devices, -1) if policy == "raw_window" else window[:, :, -1]
                proposal = actor(torch.from_numpy(quantize(observed, bits))).numpy()
            proposal = processor.physical_commands(proposal)[:, 0]
            update = delivered if policy != "tsjepa" else np.ones(num_devices, dtype=bool)
            command = np.where(update, proposal, command)
            command = np.clip(command, -params.max_force, params.max_force)
        if t >= config.window_size:  # command error while the pole has not fallen yet (then both saturate)
            alive = np.all(upright, axis=0) if upright else np.ones(num_devices, dtype=bool)
            applied.append(command[alive])
            wanted.append(expert(state)[alive])
        state = step(state, command, half_lengths, params)
        if t >= config.window_size:
            within.append(
                (np.abs(state[:, 0]) <= config.position_tolerance) & (np.abs(state[:, 2]) <= config.angle_tolerance)
            )
            upright.append(np.abs(state[:, 2]) <= FALLEN_ANGLE)
    return {
        "command_nmae": nmae(np.concatenate(applied), np.concatenate(wanted)),
        "within_tolerance": float(np.mean(within)),
        "upright": float(np.mean(np.all(upright, axis=0))),
        "bits_per_step": float(np.mean(bits_sent)) if bits_sent else 0.0,
    }


def fit_actors(
    model: TimeSeriesJepaModel, train: TrajectoryDataset, config: TimeSeriesJepaConfig, baselines: bool = True
) -> dict:
    """Semantic actor on embeddings and (with `baselines`) the raw baselines' actors, all on the train split's
    expert commands (the applied commands where the data has no expert's)."""
    views = window_views(model, train, config.actor_windows_per_trajectory, seed=1)
    targets = views["expert_now"]
    actors = {"views": views, "tsjepa": train_actor(actor_inputs(views["embeddings"], config), targets, config)}
    if baselines:
        actors["raw_window"] = train_actor(views["windows"], targets, config)
        actors["raw_reading"] = train_actor(views["readings"], targets, config)
    return actors


def extra_metrics(encoder: TimeSeriesJepaModel, train: TrajectoryDataset, test: TrajectoryDataset) -> dict[str, float]:
    """The paper's protocol beside the core's probes: command NMAE of the semantic actor on received embeddings
    and over the predicted horizon (only when both splits recorded commands: with none there is nothing to
    imitate, and the NMAE is left out), and on the embedded simulator closed-loop control over the uplink at
    `capacity_bits` (default: a quarter of the devices' embeddings) for TS-JEPA and the raw-window baseline."""
    config = encoder.config
    if not (train.has_commands and test.has_commands):
        return {}
    simulated = train.simulated and test.simulated
    actors = fit_actors(encoder, train, config, baselines=simulated)
    test_views = window_views(encoder, test, 2, seed=2)
    errors = command_errors(encoder, actors["tsjepa"], test_views, train.processor)
    metrics = {name: value for name, value in errors.items() if math.isfinite(value)}
    if simulated:
        capacity = config.capacity_bits or default_capacity(config)
        for policy in ("tsjepa", "raw_window"):
            metrics[f"{policy}_packet_bits"] = packet_bits(policy, config)
            if capacity < metrics[f"{policy}_packet_bits"]:  # e.g. raw frames: the baseline cannot send at all
                continue
            result = control_loop(
                policy, encoder, actors[policy], train.processor, config, capacity, config.num_devices,
                config.packet_loss,
            )  # fmt: skip
            metrics.update({f"{policy}_{name}": value for name, value in result.items() if math.isfinite(value)})
    return metrics
