"""`benchmarks/ijepa_step.py` times a step's matrix products alone: the recorder must see every product of the
forward and backward passes, with the operands' layout, and count their FLOPs as torch's flop counter does."""

import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from ijepa_step import MatmulRecorder, StepMatmuls  # noqa: E402


def test_recorded_products_are_every_product_of_the_step_with_their_flops():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 24), torch.nn.GELU(), torch.nn.Linear(24, 8, bias=False))
    inputs, queries = torch.randn(2, 5, 12), torch.randn(2, 7, 8, requires_grad=True)
    with FlopCounterMode(display=False) as counter, MatmulRecorder() as recorder:
        hidden = model(inputs)  # addmm (first layer), mm (second)
        (queries @ hidden.transpose(1, 2)).square().sum().backward()  # bmm forward, two bmm backward
    names = [func.__name__ for func, _, _ in recorder.calls]
    assert names.count("addmm.default") == 1 and names.count("bmm.default") == 3
    assert names.count("mm.default") == 1 + 3  # forward; backward: both weights' and the hidden input's gradients
    matmuls = StepMatmuls(recorder.calls, counter.get_total_flops())
    assert matmuls.flops == matmuls.model_flops == counter.get_total_flops() > 0
    transposed = [args for func, args, _ in matmuls.calls if any(not a.is_contiguous() for a in args[-2:])]
    assert transposed, "the backward's transposed operands keep their strides"
    assert matmuls.seconds() > 0
