import numpy as np
import pytest
from tsjepa.cartpole import CartPoleParams, LqrExpert, render_frames, simulate, step
from tsjepa.channel import Uplink, payload_bits, quantize


def test_lqr_expert_balances_every_pole_length():
    params = CartPoleParams()
    lengths = np.array([0.2, 0.4, 0.8, 1.6])
    expert = LqrExpert(lengths, params)
    state = np.tile([0.3, 0.0, 0.15, 0.0], (4, 1))
    for _ in range(500):
        state = step(state, expert(state), lengths, params)
    assert np.abs(state[:, 2]).max() < 1e-3 and np.abs(state[:, 0]).max() < 1e-2
    free = np.tile([0.0, 0.0, 0.05, 0.0], (1, 1))
    for _ in range(50):
        free = step(free, np.zeros(1), np.array([0.5]), params)
    assert free[0, 2] > 0.3  # without control the pole falls


def test_simulation_is_reproducible_and_labelled():
    a, b = simulate(8, 40, [0.2, 1.6], seed=3), simulate(8, 40, [0.2, 1.6], seed=3)
    c = simulate(8, 40, [0.2, 1.6], seed=4)
    assert a.sensors.shape == (8, 4, 40) and a.commands.shape == (8, 40)
    np.testing.assert_array_equal(a.sensors, b.sensors)
    assert not np.allclose(a.sensors, c.sensors)
    assert sorted(np.bincount(a.labels).tolist()) == [4, 4]
    np.testing.assert_allclose(a.half_lengths, np.array([0.2, 1.6])[a.labels])
    assert np.abs(a.commands).max() <= 20.0


def test_frames_draw_cart_and_pole_where_the_state_says():
    frames = render_frames(np.array([[-1.0, 0, 0, 0], [1.0, 0, 0.5, 0]]), np.array([0.5, 0.5]), 32, 64)
    assert frames.shape == (2, 32, 64) and frames.max() == 1.0
    left_mass = frames[0, :, :32].sum() / frames[0].sum()
    assert left_mass > 0.95  # cart at x = −1 m sits in the left half
    upright_columns = np.nonzero(frames[0, :20].max(axis=0))[0]
    tilted_columns = np.nonzero(frames[1, :20].max(axis=0))[0]
    assert len(upright_columns) and np.ptp(upright_columns) <= 1  # a vertical line
    assert tilted_columns.mean() > 45  # the tilted pole leans right of its cart (column 45)


def test_quantisation_error_is_within_half_a_level():
    values = np.random.default_rng(0).normal(size=(5, 32)).astype(np.float32)
    restored = quantize(values, 8)
    span = values.max(1) - values.min(1)
    assert (np.abs(restored - values).max(1) <= span / 255 * 0.5 + 1e-2).all()
    assert len(np.unique(quantize(values, 2)[0])) <= 4


def test_uplink_capacity_scheduling_and_loss():
    packet = payload_bits(32, 8)
    assert packet == 288
    with pytest.raises(ValueError, match="cannot carry one quantised packet"):
        Uplink(packet - 1, packet, num_devices=4, packet_loss=0.0)
    uplink = Uplink(2 * packet, packet, num_devices=4, packet_loss=0.0)
    seen = [np.nonzero(uplink.step()[0])[0].tolist() for _ in range(4)]
    assert seen == [[0, 1], [2, 3], [0, 1], [2, 3]]  # max-age = round-robin without loss
    lossy = Uplink(4 * packet, packet, num_devices=4, packet_loss=0.25, seed=0)
    delivered = np.mean([lossy.step()[0].mean() for _ in range(2000)])
    assert abs(delivered - 0.75) < 0.02
    assert lossy.step()[1] == 4 * packet


def test_round_robin_ignores_losses_and_max_age_resends_first():
    packet = payload_bits(32, 8)
    with pytest.raises(ValueError, match="scheduler must be one of"):
        Uplink(packet, packet, num_devices=4, packet_loss=0.0, scheduler="lottery")
    robin = Uplink(3 * packet, packet, num_devices=4, packet_loss=0.5, seed=1, scheduler="round_robin")
    cycled = [robin.step() for _ in range(4)]
    assert all(bits == 3 * packet for _, bits in cycled)
    rng = np.random.default_rng(1)  # the same loss draws: scheduled (0, 1, 2), (3, 0, 1), (2, 3, 0), (1, 2, 3)
    order = np.array([[0, 1, 2], [3, 0, 1], [2, 3, 0], [1, 2, 3]])
    for (delivered, _), scheduled in zip(cycled, order, strict=True):
        expected = np.zeros(4, dtype=bool)
        expected[scheduled[rng.random(3) >= 0.5]] = True
        np.testing.assert_array_equal(delivered, expected)
    # max-age gives the longest-starved devices the next slots
    aged = Uplink(packet, packet, num_devices=3, packet_loss=0.0, scheduler="max_age")
    aged.ages[:] = [2, 7, 5]
    assert np.nonzero(aged.step()[0])[0].tolist() == [1]
