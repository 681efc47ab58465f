"""Safety: nothing left behind, clear errors, and no cross-talk between threads."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

import lstmviz
from lstmviz import recorder


class Net(nn.Module):
    def __init__(self, cell=nn.LSTM):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.rnn = cell(8, 16, num_layers=2, batch_first=True, bidirectional=True, dropout=0.3)
        self.head = nn.Linear(32, 3)

    def forward(self, ids):
        y, _ = self.rnn(self.emb(ids))
        return self.head(y[:, -1])


def leftovers(model: nn.Module) -> list[str]:
    """Every hook, swapped forward or registry entry that could survive a recording."""
    found = []
    for name, m in model.named_modules():
        for attr in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
            "_state_dict_hooks",
        ):
            if getattr(m, attr, None):
                found.append(f"{name}.{attr}")
        if "forward" in m.__dict__:
            found.append(f"{name}.forward swapped")
    found += [f"registry {k}" for k in recorder._INSTALLED]
    found += [f"active {r!r}" for r in recorder._ACTIVE.get()]
    return found


def test_nothing_left_after_success_and_after_failure():
    model = Net()
    model.train()
    ids = torch.randint(0, 30, (2, 5))
    with lstmviz.record(model, grads=True) as rec:
        model(ids).sum().backward()
    assert leftovers(model) == [] and model.training and model.rnn.training
    assert rec["rnn.l1.rev.grad_cell"].shape == (2, 5, 16)

    bad = torch.randn(2, 5, 7)  # wrong feature size: the LSTM itself raises
    with pytest.raises(RuntimeError) as err:
        with lstmviz.record(model.rnn):
            model.rnn(bad)
    assert "lstmviz recorded module ''" in "".join(getattr(err.value, "__notes__", []))
    assert leftovers(model) == []

    with pytest.raises(ZeroDivisionError):
        with lstmviz.record(model):
            model.eval()  # the user flips the mode inside; it is restored on exit
            model(ids)
            raise ZeroDivisionError("the user's code fails inside the block")
    assert leftovers(model) == [] and model.training and model.rnn.training


def test_repeated_and_nested_use_does_not_accumulate():
    model = Net(nn.GRU).eval()
    ids = torch.randint(0, 30, (1, 4))
    for _ in range(20):
        with lstmviz.record(model):
            model(ids)
    with lstmviz.record(model) as outer:
        with lstmviz.record(model, names="rnn") as inner:
            model(ids)
            assert recorder._INSTALLED[id(model.rnn)][0] == 2
        model(ids)
    assert leftovers(model) == []
    assert inner["rnn.l0.hidden"].shape == (1, 4, 16)
    assert outer["rnn.l0.hidden"].shape == (1, 4, 16)  # only the call after the inner block


def test_model_outside_record_behaves_exactly_as_before():
    model = Net().eval()
    ids = torch.randint(0, 30, (3, 6))
    before = model(ids)
    with lstmviz.record(model):
        model(ids)
    after = model(ids)
    assert torch.equal(before, after)
    assert type(model.rnn).forward is nn.LSTM.forward and "forward" not in model.rnn.__dict__


def test_existing_instance_forward_is_restored():
    m = nn.GRU(2, 3)
    sentinel_calls = []
    original = m.forward

    def patched(*a, **k):
        sentinel_calls.append(1)
        return original(*a, **k)

    m.forward = patched
    with lstmviz.record(m):
        m(torch.randn(4, 1, 2))
    # while recording, the module ran through the recorder's equivalent forward
    assert m.forward is patched and sentinel_calls == []
    m(torch.randn(4, 1, 2))
    assert sentinel_calls == [1]


def test_clear_errors():
    with pytest.raises(ValueError, match=r"no recurrent module .* searched 3 submodules .*LSTM"):
        with lstmviz.record(nn.Sequential(nn.Linear(2, 2), nn.ReLU())):
            pass
    model = Net()
    with pytest.raises(ValueError, match=r"names \['nope'\] are not recurrent modules .*\['rnn'\]"):
        lstmviz.trace(model, torch.randint(0, 30, (1, 3)), names=["nope"])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        with lstmviz.record("not a model"):
            pass
    with pytest.raises(TypeError, match="grads must be True or False"):
        with lstmviz.record(model, grads="yes"):
            pass
    with torch.no_grad(), pytest.raises(RuntimeError, match=r"grads=True.*no_grad"):
        with lstmviz.record(model, grads=True):
            pass
    with pytest.raises(RuntimeError, match=r"grads=True.*no_grad"):
        with lstmviz.record(model, grads=True):
            with torch.no_grad():
                model(torch.randint(0, 30, (1, 3)))
    with lstmviz.record(model, grads=True) as rec:
        model(torch.randint(0, 30, (1, 3)))
    with pytest.raises(RuntimeError, match="no backward pass has reached module"):
        rec["rnn.l0.grad_hidden"]
    with lstmviz.record(model) as rec:
        model(torch.randint(0, 30, (1, 3)))
    with pytest.raises(KeyError, match="no gradients"):
        rec["rnn.l0.grad_hidden"]
    with pytest.raises(KeyError, match="no recorded tensor 'rnn.l9.forget'"):
        rec["rnn.l9.forget"]
    assert leftovers(model) == []


def test_threads_never_mix_recordings():
    """8 threads x 50 recordings through ONE shared model; each must see only its own input."""
    model = Net(nn.LSTM).eval()
    n_threads, n_iter = 8, 50
    failures: list[str] = []
    barrier = threading.Barrier(n_threads)

    def worker(k: int) -> None:
        g = torch.Generator().manual_seed(k)
        barrier.wait()
        for i in range(n_iter):
            T = 3 + (k + i) % 5  # lengths differ between threads, so a mix-up changes shapes too
            ids = torch.randint(0, 30, (1, T), generator=g)
            grads = i % 2 == 0
            try:
                with lstmviz.record(model, grads=grads) as rec:
                    out = model(ids)
                    if grads:
                        rec.backward(out.sum())
                expected = model.rnn(model.emb(ids))[0].detach()  # plain call, maybe concurrent with others
                got = torch.cat((rec["rnn.l1.hidden"], rec["rnn.l1.rev.hidden"]), -1)
                if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-6):
                    failures.append(f"thread {k} iter {i}: recording does not match its own input")
                if grads and rec["rnn.l0.grad_hidden"].shape[1] != T:
                    failures.append(f"thread {k} iter {i}: gradient of another input")
            except Exception as e:  # noqa: BLE001 - collected and reported by the assertion below
                failures.append(f"thread {k} iter {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert leftovers(model) == []
    assert all(p.grad is None for p in model.parameters())


def test_deepcopy_taken_during_a_recording_is_a_plain_independent_model():
    """What-if copies of a shared model may be made while another session records it."""
    import copy

    model = Net(nn.GRU).eval()
    ids = torch.randint(0, 30, (1, 5))
    with lstmviz.record(model) as rec:
        clone = copy.deepcopy(model)
        with torch.no_grad():
            for p in clone.parameters():
                p.mul_(0.5)
        out_clone = clone(ids)  # must use the clone's own (halved) weights
        model(ids)
    assert "forward" not in clone.rnn.__dict__  # the stray dispatcher removed itself
    torch.testing.assert_close(out_clone, clone(ids))
    assert not torch.allclose(out_clone, model(ids))
    assert rec["rnn.l0.hidden"].shape == (1, 5, 16)  # the clone's call was not recorded
    assert leftovers(model) == [] and leftovers(clone) == []
