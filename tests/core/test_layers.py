import math

import pytest
import torch
from jepa_core.layers import (
    Attention,
    Block,
    PatchEmbed1d,
    PatchEmbed2d,
    plain_attention,
    prefers_plain,
    sincos_1d,
    sincos_2d,
    sincos_from_coordinates,
    sincos_nd,
)


def test_sincos_1d_matches_closed_form():
    dim, positions = 8, torch.tensor([0.0, 1.0, 5.0])
    table = sincos_1d(positions, dim)
    for row, p in enumerate(positions.tolist()):
        for i in range(dim // 2):
            omega = 1 / 10000 ** (2 * i / dim)
            assert table[row, i].item() == pytest.approx(math.sin(p * omega), abs=1e-6)
            assert table[row, dim // 2 + i].item() == pytest.approx(math.cos(p * omega), abs=1e-6)


def test_sincos_2d_is_mae_layout_column_first():
    height, width, dim = 3, 4, 16
    table = sincos_2d(height, width, dim)
    assert table.shape == (12, 16)
    token = 1 * width + 2  # row 1, column 2
    assert torch.allclose(table[token, :8], sincos_1d(torch.tensor([2.0]), 8)[0])
    assert torch.allclose(table[token, 8:], sincos_1d(torch.tensor([1.0]), 8)[0])


def test_sincos_nd_and_from_coordinates_agree():
    table = sincos_nd((2, 3, 4), 24)
    coords = torch.tensor([[3.0, 2.0, 1.0]])  # (last axis first): token at (1, 2, 3)
    assert torch.allclose(table[1 * 12 + 2 * 4 + 3], sincos_from_coordinates(coords, 24)[0])
    with pytest.raises(ValueError, match="divisible"):
        sincos_from_coordinates(torch.zeros(5, 3), 16)


def test_sdpa_attention_equals_plain_softmax():
    attention = Attention(32, 4).eval()
    x = torch.randn(2, 7, 32)
    fast = attention(x)
    attention.backend = "plain"
    assert torch.allclose(fast, attention(x), atol=1e-5)
    q, k, v = torch.randn(3, 1, 2, 5, 8).unbind(0)
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(plain_attention(q, k, v, mask), expected, atol=1e-5)


def test_reduced_precision_on_cpu_takes_the_plain_path_and_matches_fp32():
    torch.manual_seed(0)
    attention = Attention(64, 4).eval()
    x = torch.randn(2, 50, 64)
    mask = torch.rand(2, 1, 50, 50) > 0.3
    mask[..., 0] = True  # every query sees at least one key
    reference = attention(x, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q = attention.qkv(x)
        low = attention(x, mask)
    assert prefers_plain(q) and not prefers_plain(x)
    assert low.dtype == torch.bfloat16
    assert (low.float() - reference).abs().max() < 0.05 * reference.abs().max()
    attention.backend = "sdpa"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = attention(x, mask)
    assert (low.float() - fused.float()).abs().max() < 0.05 * reference.abs().max()


def test_plain_attention_dropout_zeroes_weights_and_rescales():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, 1, 4, 8).unbind(0)
    ones = torch.ones_like(v)
    out = plain_attention(q, k, ones, dropout_p=0.5)  # each row: sum of kept weights × 2
    assert not torch.allclose(out, ones) and torch.all((out >= 0) & (out <= 2 + 1e-6))
    assert torch.allclose(plain_attention(q, k, ones, dropout_p=0.0), ones)


def test_attention_rejects_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match="divisible"):
        Attention(30, 4)


def test_block_residual_and_drop_path():
    block = Block(16, 2, drop_path=1.0)
    x = torch.randn(3, 5, 16)
    assert torch.equal(block.train()(x), x)  # both branches dropped: identity
    assert not torch.equal(block.eval()(x), x)


def test_patch_embeddings_shapes_and_errors():
    assert PatchEmbed2d(3, 8, 4)(torch.randn(2, 3, 16, 12)).shape == (2, 12, 8)
    assert PatchEmbed1d(12, 8, 25)(torch.randn(2, 12, 100)).shape == (2, 4, 8)
    with pytest.raises(ValueError, match="divisible"):
        PatchEmbed2d(3, 8, 4)(torch.randn(1, 3, 15, 16))
    with pytest.raises(ValueError, match="channels"):
        PatchEmbed2d(3, 8, 4)(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="multiple"):
        PatchEmbed1d(12, 8, 25)(torch.randn(1, 12, 101))


def test_build_encoder_sizes_from_the_config_or_overrides():
    from jepa_core.modeling_utils import build_encoder
    from toy_domain import ToyConfig

    config = ToyConfig.from_preset("tiny")
    default = build_encoder(config)
    assert default.norm.normalized_shape == (32,) and len(default.blocks) == 2
    narrow = build_encoder(config, 1, width=16, depth=3, num_heads=4)
    assert narrow(torch.randn(2, 5, 16)).shape == (2, 6, 16) and len(narrow.blocks) == 3
    assert narrow.blocks[0].attn.num_heads == 4
