"""The recorder on a CUDA device (issue 24): the same keys, values equal to the float64 reference, tensors
returned on the CPU as documented, gates only under autograd replayed with the plain forward's gradients.

Skipped with a reason where no GPU exists (CI runs on CPUs); a machine with one runs it as it is.
"""

from __future__ import annotations

import pytest
import torch
from reference import unrolled
from torch import nn

import lstmviz
from lstmviz import recorder

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_cuda_recording_equals_the_float64_reference_and_returns_cpu_tensors(cell, bidirectional):
    torch.manual_seed(0)
    cpu = CELLS[cell](3, 5, num_layers=2, bidirectional=bidirectional, batch_first=True).double()
    gpu = CELLS[cell](3, 5, num_layers=2, bidirectional=bidirectional, batch_first=True).double().cuda()
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    with lstmviz.record(gpu, grads=True) as rec:
        out, _ = gpu(x.cuda())
        rec.backward(out.pow(2).sum())
    ref = unrolled(cpu, list(x))
    torch.stack(ref["out"]).pow(2).sum().backward()
    D = 2 if bidirectional else 1
    for layer in range(2):
        for d in range(D):
            steps = ref[(layer, d)]
            key = lstmviz.make_key("", layer, d, "hidden")
            got = rec[key]
            assert got.device.type == "cpu"  # documented: detached, on the CPU, batch-first
            want = torch.stack([torch.stack([s["h"] for s in seq]) for seq in steps])
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
            grad = rec[lstmviz.make_key("", layer, d, "grad_hidden")]
            want_grad = torch.stack([torch.stack([s["h"].grad for s in seq]) for seq in steps])
            torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-10)
    assert recorder._INSTALLED == {}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_only_under_autograd_on_cuda_pass_back_the_plain_gradients(cell):
    torch.manual_seed(0)
    m = CELLS[cell](16, 128, batch_first=True).double().cuda()
    x = torch.randn(40, 7, 16, dtype=torch.float64, device="cuda", requires_grad=True)
    w = torch.randn(40, 7, 128, dtype=torch.float64, device="cuda")
    plain = torch.autograd.grad((m(x)[0] * w).sum(), [x, *m.parameters()])
    with lstmviz.record(m) as rec:
        out, _ = m(x)
    got = torch.autograd.grad((out * w).sum(), [x, *m.parameters()])
    for a, b in zip(plain, got):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert rec[lstmviz.make_key("", 0, 0, "hidden")].device.type == "cpu"
