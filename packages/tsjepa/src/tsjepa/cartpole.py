"""Parallel inverted cart-poles in numpy: the standard equations, an LQR expert, trajectories and frames.

State per plant: (x, ẋ, θ, θ̇), θ = 0 upright. Dynamics are the classic cart-pole equations without friction
(Barto, Sutton & Anderson 1983; as in Gymnasium's CartPole) with a continuous force F ∈ [−max_force, max_force],
integrated with explicit Euler at `dt`. The expert is an infinite-horizon discrete LQR on the dynamics linearised
at the upright equilibrium (the quadratic-cost optimal controller the paper's dynamic programming approximates),
one gain per pole length. Everything is vectorised over plants and reproducible by seed.
"""

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_discrete_are

STATE_NAMES = ("x", "x_dot", "theta", "theta_dot")


@dataclass(frozen=True)
class CartPoleParams:
    """Physical constants (Gymnasium's values), the step and the LQR weights."""

    gravity: float = 9.8
    cart_mass: float = 1.0
    pole_mass: float = 0.1
    dt: float = 0.02
    max_force: float = 20.0
    state_cost: tuple[float, float, float, float] = (1.0, 1.0, 10.0, 1.0)
    force_cost: float = 0.1


def derivatives(states: np.ndarray, forces: np.ndarray, half_lengths: np.ndarray, params: CartPoleParams):
    """d(state)/dt for states (N, 4), forces (N,), pole half-lengths (N,)."""
    _, x_dot, theta, theta_dot = states.T
    total_mass = params.cart_mass + params.pole_mass
    sin, cos = np.sin(theta), np.cos(theta)
    temp = (forces + params.pole_mass * half_lengths * theta_dot**2 * sin) / total_mass
    theta_acc = (params.gravity * sin - cos * temp) / (
        half_lengths * (4.0 / 3.0 - params.pole_mass * cos**2 / total_mass)
    )
    x_acc = temp - params.pole_mass * half_lengths * theta_acc * cos / total_mass
    return np.stack([x_dot, x_acc, theta_dot, theta_acc], axis=1)


def step(states: np.ndarray, forces: np.ndarray, half_lengths: np.ndarray, params: CartPoleParams) -> np.ndarray:
    """One Euler step; forces are clipped to the actuator range."""
    forces = np.clip(forces, -params.max_force, params.max_force)
    return states + params.dt * derivatives(states, forces, half_lengths, params)


def lqr_gain(half_length: float, params: CartPoleParams) -> np.ndarray:
    """Discrete LQR gain K (4,) for u = −K s, on the dynamics linearised (numerically) at the upright state."""
    eps = 1e-5
    origin, length = np.zeros((1, 4)), np.array([half_length])
    jac_state = np.stack(
        [
            (step(origin + eps * e, np.zeros(1), length, params) - step(origin - eps * e, np.zeros(1), length, params))[
                0
            ]
            / (2 * eps)
            for e in np.eye(4)
        ],
        axis=1,
    )
    jac_force = (step(origin, np.full(1, eps), length, params) - step(origin, np.full(1, -eps), length, params))[0] / (
        2 * eps
    )
    b = jac_force[:, None]
    q, r = np.diag(params.state_cost), np.array([[params.force_cost]])
    p = solve_discrete_are(jac_state, b, q, r)
    return np.linalg.solve(r + b.T @ p @ b, b.T @ p @ jac_state)[0]


class LqrExpert:
    """The expert controller: F = clip(−K_c s) with the gain of each plant's pole length."""

    def __init__(self, half_lengths: np.ndarray, params: CartPoleParams):
        gains = {float(h): lqr_gain(float(h), params) for h in np.unique(half_lengths)}
        self.gains = np.stack([gains[float(h)] for h in half_lengths])
        self.params = params

    def __call__(self, states: np.ndarray) -> np.ndarray:
        forces = -(self.gains * states).sum(axis=1)
        return np.clip(forces, -self.params.max_force, self.params.max_force)


@dataclass
class Trajectories:
    """Sensor readings (N, 4, T), applied and expert commands (N, T), true states (N, 4, T), plant class (N,)."""

    sensors: np.ndarray
    commands: np.ndarray
    expert_commands: np.ndarray
    states: np.ndarray
    labels: np.ndarray
    half_lengths: np.ndarray


def initial_states(count: int, rng: np.random.Generator) -> np.ndarray:
    """Random starts around the upright equilibrium: |x| ≤ 0.5 m, |θ| ≤ 0.2 rad, small velocities."""
    scale = np.array([0.5, 0.2, 0.2, 0.2])
    return rng.uniform(-1, 1, size=(count, 4)) * scale


def simulate(
    count: int,
    length: int,
    pole_half_lengths: list[float],
    seed: int,
    command_noise: float = 4.0,
    sensor_noise: tuple[float, ...] = (0.005, 0.02, 0.002, 0.02),
    params: CartPoleParams | None = None,
) -> Trajectories:
    """`count` cart-poles for `length` steps under the LQR expert plus exploration noise on the applied force.

    Plants cycle through `pole_half_lengths` (their index is the label). The exploration noise is an AR(1)
    process (coefficient 0.8, stationary std `command_noise` N), so the applied commands carry information the
    predictor must use; `expert_commands` are the noise-free expert forces at the visited states.
    """
    params = params or CartPoleParams()
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(pole_half_lengths)
    rng.shuffle(labels)
    half_lengths = np.asarray(pole_half_lengths, dtype=np.float64)[labels]
    expert = LqrExpert(half_lengths, params)
    states = np.empty((length, count, 4))
    commands, expert_commands = np.empty((length, count)), np.empty((length, count))
    state, noise = initial_states(count, rng), np.zeros(count)
    for t in range(length):
        states[t] = state
        noise = 0.8 * noise + np.sqrt(1 - 0.8**2) * command_noise * rng.standard_normal(count)
        expert_commands[t] = expert(state)
        commands[t] = np.clip(expert_commands[t] + noise, -params.max_force, params.max_force)
        state = step(state, commands[t], half_lengths, params)
    states = states.transpose(1, 2, 0)
    sensors = states + np.asarray(sensor_noise)[None, :, None] * rng.standard_normal(states.shape)
    return Trajectories(
        sensors.astype(np.float32),
        commands.T.astype(np.float32),
        expert_commands.T.astype(np.float32),
        states.astype(np.float32),
        labels.astype(np.int64),
        half_lengths,
    )


def render_frames(states: np.ndarray, half_lengths: np.ndarray, height: int = 32, width: int = 64) -> np.ndarray:
    """Grey-scale frames (N, height, width) in [0, 1] of cart-poles at states (N, 4): the journal's "images".

    The view spans x ∈ [−2.4, 2.4] m; the cart is a box on a rail, the pole a line of its true length.
    """
    states = np.asarray(states, dtype=np.float64).reshape(-1, 4)
    half_lengths = np.broadcast_to(np.asarray(half_lengths, dtype=np.float64), (len(states),))
    metres_per_pixel = 4.8 / width
    cols = (np.arange(width) + 0.5) * metres_per_pixel - 2.4
    rows = (height - np.arange(height) - 0.5) * metres_per_pixel
    px, py = np.meshgrid(cols, rows)
    rail = 0.25 * height * metres_per_pixel
    cart_x = states[:, 0, None, None]
    cart = (np.abs(px - cart_x) <= 0.25) & (np.abs(py - rail) <= 0.12)
    tip_x = cart_x + 2 * half_lengths[:, None, None] * np.sin(states[:, 2])[:, None, None]
    tip_y = rail + 2 * half_lengths[:, None, None] * np.cos(states[:, 2])[:, None, None]
    dx, dy = tip_x - cart_x, tip_y - rail
    along = np.clip(((px - cart_x) * dx + (py - rail) * dy) / (dx**2 + dy**2), 0, 1)
    distance = np.hypot(px - cart_x - along * dx, py - rail - along * dy)
    pole = distance <= 0.6 * metres_per_pixel
    return np.maximum(cart * 0.5, pole * 1.0).astype(np.float32)


def render_series(states: np.ndarray, half_lengths: np.ndarray, height: int, width: int) -> np.ndarray:
    """Frames of trajectories: states (N, 4, T), half-lengths (N,) → (N, height × width, T), pixels as channels."""
    count, _, length = states.shape
    flat = states.transpose(0, 2, 1).reshape(-1, 4)
    lengths = np.repeat(np.asarray(half_lengths, dtype=np.float64), length)
    frames = np.concatenate(
        [render_frames(flat[i : i + 4096], lengths[i : i + 4096], height, width) for i in range(0, len(flat), 4096)]
    )
    return frames.reshape(count, length, height * width).transpose(0, 2, 1).copy()
