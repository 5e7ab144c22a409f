"""Brain-JEPA encoder (ViT over ROI × time-patch tokens with brain gradient positioning), pretraining and a head."""

import numpy as np
import torch
from jepa_core.layers import sincos_1d
from jepa_core.losses import jepa_loss
from jepa_core.modeling_utils import (
    JepaForPreTraining,
    JepaPreTrainedModel,
    JepaPreTrainingOutput,
    build_encoder,
    rescale_residual_branches,
)
from torch import nn
from torch.nn import functional as F
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput

from .configuration_brain_jepa import BrainJepaConfig


class BrainGradientPositions(nn.Module):
    """Per token (ROI-major): [time sin-cos (D/2) ‖ min-max to [−1, 1] of Linear(m → D/2)(ROI gradients)].

    The min-max runs over the whole projected (ROIs × D/2) matrix, as in the paper.
    """

    def __init__(self, num_components: int, dim: int):
        super().__init__()
        self.dim = dim
        self.gradient_proj = nn.Linear(num_components, dim // 2)

    def forward(self, gradients: torch.Tensor, num_time_patches: int) -> torch.Tensor:
        roi = self.gradient_proj(gradients.to(self.gradient_proj.weight.dtype))
        roi = 2 * (roi - roi.min()) / (roi.max() - roi.min()).clamp_min(1e-12) - 1
        time = sincos_1d(torch.arange(num_time_patches, device=roi.device), self.dim // 2).to(roi.dtype)
        num_rois = gradients.shape[0]
        return torch.cat([time.repeat(num_rois, 1), roi.repeat_interleave(num_time_patches, dim=0)], dim=1)


def initial_brain_gradients(config: BrainJepaConfig) -> torch.Tensor:
    """The embedded data set's gradients when the ROI count matches it, else zeros (to be set from data)."""
    from .data import EMBEDDED_NUM_ROIS, embedded_brain_gradients

    if config.num_rois == EMBEDDED_NUM_ROIS:
        return torch.from_numpy(embedded_brain_gradients(config))
    return torch.zeros(config.num_rois, config.gradient_components)


class BrainJepaModel(JepaPreTrainedModel):
    """Brain-JEPA encoder: patches of `patch_size` frames per ROI → Linear → + gradient/time positions → ViT.

    `forward(time_series (B, R, T) or (B, 1, R, T), indices=None)` returns `last_hidden_state` (B, R·T/p or K, D).
    The group brain gradients (R, m) are a persistent buffer, saved with the weights; set them from your data with
    `set_brain_gradients` (see `brain_gradients_from_timeseries`).
    """

    config: BrainJepaConfig
    base_model_prefix = "brain_jepa"
    main_input_name = "time_series"

    def __init__(self, config: BrainJepaConfig):
        super().__init__(config)
        self.patch_embed = nn.Linear(config.patch_size, config.hidden_size)
        # LeCun std 1/√patch_size, not the reference's 0.02: at 0.02 a 16-frame patch enters ~10× smaller than its
        # position and pretraining settles on positions alone (see the README)
        self.patch_embed.init_std = config.patch_size**-0.5
        self.positions = BrainGradientPositions(config.gradient_components, config.hidden_size)
        self.register_buffer("brain_gradients", initial_brain_gradients(config), persistent=True)
        self.encoder = build_encoder(config, config.num_register_tokens)
        self.post_init()
        rescale_residual_branches(self.encoder)

    @torch.no_grad()
    def set_brain_gradients(self, gradients: np.ndarray | torch.Tensor) -> None:
        """Use these (ROIs, gradient_components) group gradients as the ROI coordinates."""
        gradients = torch.as_tensor(np.asarray(gradients, dtype=np.float32))
        if tuple(gradients.shape) != tuple(self.brain_gradients.shape):
            raise ValueError(
                f"gradients of shape {tuple(gradients.shape)} do not fit the model's (num_rois, gradient_components)"
                f" = {tuple(self.brain_gradients.shape)}; build the config with the matching values"
            )
        if not torch.isfinite(gradients).all():
            raise ValueError("gradients contain NaN or infinite values")
        self.brain_gradients.copy_(gradients)

    def check_inputs(self, time_series: torch.Tensor) -> torch.Tensor:
        if time_series.ndim == 4 and time_series.shape[1] == 1:
            time_series = time_series[:, 0]
        num_rois, patch = self.brain_gradients.shape[0], self.config.patch_size
        if time_series.ndim != 3:
            raise ValueError(f"expected time series shaped (batch, ROIs, frames), got {tuple(time_series.shape)}")
        if time_series.shape[1] != num_rois:
            raise ValueError(
                f"time series have {time_series.shape[1]} ROIs but the model's brain gradients cover {num_rois}; "
                "use the same parcellation, or build a model with num_rois and gradients for yours"
            )
        frames = time_series.shape[2]
        if frames < patch or frames % patch:
            raise ValueError(
                f"time series have {frames} frames; the model needs a positive multiple of the patch size {patch} "
                f"(crop to {max(patch, frames - frames % patch)})"
            )
        if not torch.isfinite(time_series).all():
            raise ValueError("time series contain NaN or inf; clean them (BrainJepaProcessor nan_policy='drop_frames')")
        if not self.brain_gradients.any():
            raise ValueError(
                "the model has no brain gradients for its ROIs yet: compute them from your data "
                "(brain_gradients_from_timeseries) and call set_brain_gradients, or load a saved model"
            )
        return time_series

    def embed(self, time_series: torch.Tensor) -> torch.Tensor:
        """(B, R, T) → (B, R·T/p, D) tokens with positions, ROI-major."""
        time_series = self.check_inputs(time_series)
        batch, num_rois, frames = time_series.shape
        weight = self.patch_embed.weight
        patches = time_series.to(weight.dtype).reshape(batch, num_rois * (frames // self.config.patch_size), -1)
        positions = self.positions(self.brain_gradients, frames // self.config.patch_size)
        return self.patch_embed(patches) + positions

    def forward(self, time_series: torch.Tensor, indices: torch.Tensor | None = None) -> BaseModelOutput:
        return BaseModelOutput(last_hidden_state=self.encoder(self.embed(time_series), indices))


class BrainJepaForPreTraining(JepaForPreTraining):
    """Context encoder → predictor (its own gradient map at the predictor width) vs the EMA target encoder, or the
    online encoder itself with λ·SIGReg under `objective="sigreg"`.

    Loss: smooth-L1 on layer-normed targets (`loss_type="l2"` for the paper's Eq. 6). `AutoModel` on a saved run
    gives the target encoder, which the paper evaluates. Built by the core hooks: the predictor positions depend
    on the brain gradients, so `predictor_positions()` stays None and `forward` computes them.
    """

    config: BrainJepaConfig
    encoder_class = BrainJepaModel

    def make_extra_modules(self) -> None:
        """The predictor's own gradient map (its positions are computed from the brain gradients in `forward`)."""
        self.predictor_positions_embed = BrainGradientPositions(
            self.config.gradient_components, self.config.pred_hidden_size
        )

    def after_init(self) -> None:
        rescale_residual_branches(self.predictor)

    def set_brain_gradients(self, gradients: np.ndarray | torch.Tensor) -> None:
        self.context_encoder.set_brain_gradients(gradients)
        if self.target.encoder is not self.context_encoder:  # the EMA copy (under SIGReg the target is the encoder)
            self.target.encoder.set_brain_gradients(gradients)

    def gradient_positions(self, num_time_patches: int | None = None) -> torch.Tensor:
        """The predictor's positions (R·num_time_patches, pred_hidden_size) from the current brain gradients."""
        num_time_patches = num_time_patches or self.config.num_time_patches
        return self.predictor_positions_embed(self.context_encoder.brain_gradients, num_time_patches)

    def forward(
        self, time_series: torch.Tensor, context_indices: torch.Tensor, target_indices: torch.Tensor, **labels
    ) -> JepaPreTrainingOutput:
        """Labels and traits in the batch are accepted and ignored."""
        context = self.context_encoder(time_series, indices=context_indices).last_hidden_state
        positions = self.gradient_positions(time_series.shape[-1] // self.config.patch_size)
        predictions = self.predictor(context, context_indices, target_indices, positions)
        targets, hidden = self.target({"time_series": time_series}, target_indices)
        prediction_loss = jepa_loss(predictions, targets, self.config.loss_type, self.config.normalize_targets)
        loss, parts = self.objective_loss(prediction_loss, hidden, context[:, self.config.num_register_tokens :])
        return JepaPreTrainingOutput(loss, predictions, targets, hidden.detach().mean(dim=1), parts)


class BrainJepaForSequenceClassification(JepaPreTrainedModel):
    """Fine-tuning head (paper §4.3): mean over all tokens → LayerNorm → Linear.

    `config.num_labels == 1` is regression (MSE), otherwise classification (cross-entropy).
    """

    config: BrainJepaConfig
    base_model_prefix = "brain_jepa"
    main_input_name = "time_series"

    def __init__(self, config: BrainJepaConfig):
        super().__init__(config)
        self.brain_jepa = BrainJepaModel(config)
        self.fc_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self, time_series: torch.Tensor, labels: torch.Tensor | None = None, **unused
    ) -> SequenceClassifierOutput:
        hidden = self.brain_jepa(time_series).last_hidden_state[:, self.config.num_register_tokens :]
        logits = self.classifier(self.dropout(self.fc_norm(hidden.mean(dim=1))))
        loss = None
        if labels is not None:
            if self.config.num_labels == 1:
                loss = F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
            else:
                loss = F.cross_entropy(logits, labels.long())
        return SequenceClassifierOutput(loss=loss, logits=logits)
