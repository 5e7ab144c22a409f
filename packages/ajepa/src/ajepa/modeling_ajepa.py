"""A-JEPA models: the spectrogram ViT encoder, the pretraining wiring, and a classifier with masked fine-tuning."""

from pathlib import Path

import torch
from jepa_core.layers import PatchEmbed2d, sincos_2d
from jepa_core.modeling_utils import JepaForPreTraining, JepaPreTrainedModel, build_encoder
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput

from .configuration_ajepa import AudioJepaConfig
from .processor_ajepa import AudioJepaProcessor


class AudioJepaModel(JepaPreTrainedModel):
    """ViT on 16 × 16 fbank patches with fixed per-axis sin-cos positions (time in the second half of the
    width, frequency in the first), no CLS token. `forward(input_values (B, frames, mel bins), indices=None,
    bool_masked_pos=None)`: `indices` keeps only those tokens (the context encoder), `bool_masked_pos` (B, N)
    replaces patches by the learned `mask_token` before positions are added (masked fine-tuning).
    `save_pretrained` also writes the matching `preprocessor_config.json`."""

    config: AudioJepaConfig
    base_model_prefix = "audio_jepa"
    main_input_name = "input_values"

    def __init__(self, config: AudioJepaConfig):
        super().__init__(config)
        self.patch_embed = PatchEmbed2d(1, config.hidden_size, config.patch_size)
        self.register_buffer("pos_embed", sincos_2d(*config.grid_size, config.hidden_size), persistent=True)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.encoder = build_encoder(config, config.num_register_tokens)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, AudioJepaModel):
            init.trunc_normal_(module.mask_token, std=self.config.initializer_range)

    def forward(
        self,
        input_values: torch.Tensor,
        indices: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        expected = (self.config.target_length, self.config.num_mel_bins)
        if input_values.ndim != 3 or tuple(input_values.shape[1:]) != expected:
            raise ValueError(
                f"input_values must be (batch, {expected[0]} frames, {expected[1]} mel bins), got "
                f"{tuple(input_values.shape)}; compute them with AudioJepaProcessor.from_config(config)"
            )
        tokens = self.patch_embed(input_values.unsqueeze(1))
        if bool_masked_pos is not None:
            tokens = torch.where(bool_masked_pos.unsqueeze(-1), self.mask_token.to(tokens.dtype), tokens)
        tokens = tokens + self.pos_embed.to(tokens.dtype)
        return BaseModelOutput(last_hidden_state=self.encoder(tokens, indices))

    def save_pretrained(self, save_directory: str | Path, *args, **kwargs) -> None:
        super().save_pretrained(save_directory, *args, **kwargs)
        AudioJepaProcessor.from_config(self.config).save_pretrained(save_directory)


class AudioJepaForPreTraining(JepaForPreTraining):
    """Context encoder on the visible patches → predictor at the target patches, vs the EMA target encoder
    on the whole spectrogram (the I-JEPA wiring of jepa_core). `AutoModel` loads the EMA encoder."""

    config: AudioJepaConfig
    encoder_class = AudioJepaModel

    def predictor_positions(self) -> torch.Tensor:
        return sincos_2d(*self.config.grid_size, self.config.pred_hidden_size)


class AudioJepaForAudioClassification(JepaPreTrainedModel):
    """Mean-pooled encoder → LayerNorm → linear head. While training, `finetune_mask_ratio` of the patches of
    each clip (drawn uniformly) are replaced by the encoder's mask token: the paper's regularised masking
    fine-tuning (not dropped, not zeroed); off in eval mode. `config.problem_type` picks the loss:
    "single_label_classification" (cross-entropy, default) or "multi_label_classification" (BCE, AudioSet)."""

    config: AudioJepaConfig
    base_model_prefix = "audio_jepa"
    main_input_name = "input_values"

    def __init__(self, config: AudioJepaConfig):
        super().__init__(config)
        self.audio_jepa = AudioJepaModel(config)
        self.fc_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def random_patch_mask(self, batch: int, device: torch.device) -> torch.Tensor:
        """(B, N) bool with exactly round(ratio · N) True per row."""
        num_patches = self.audio_jepa.pos_embed.shape[0]
        ranks = torch.rand(batch, num_patches, device=device).argsort(dim=1).argsort(dim=1)
        return ranks < round(self.config.finetune_mask_ratio * num_patches)

    def forward(self, input_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs):
        masked = None
        if self.training and self.config.finetune_mask_ratio > 0:
            masked = self.random_patch_mask(input_values.shape[0], input_values.device)
        hidden = self.audio_jepa(input_values, bool_masked_pos=masked).last_hidden_state
        logits = self.classifier(self.fc_norm(hidden[:, self.config.num_register_tokens :].mean(dim=1)))
        loss = None
        if labels is not None:
            if self.config.problem_type == "multi_label_classification":
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
            else:
                loss = nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)
