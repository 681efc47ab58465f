"""lstmviz.traininglog (issue 23): a log in the user's own training loop, its run.json, hostile run files, and the
Training view listing the user's runs beside the checkpoints."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest
from test_recorder_safety import leftovers
from torch import nn

from lstmviz import plots
from lstmviz.traininglog import (
    MAX_EPOCHS,
    MAX_RUN_BYTES,
    MAX_STEPS,
    RUN_FILE,
    SCHEMA,
    RunError,
    TrainingLog,
    curves_frame,
    profile_epochs_frame,
    profile_frame,
    read_run,
    saturation_frame,
)

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
T, B = 7, 6  # probe steps and batch
SHOWN = {"rtol": 5.001e-4, "atol": 0.0}  # what a chart holds of a value: 4 significant digits


class Net(nn.Module):
    """Embedding-free classifier over (B, T, 3) inputs: a recurrent module (dropout between layers) and a head."""

    def __init__(self, cell: type[nn.RNNBase] = nn.LSTM, layers: int = 2, bidirectional: bool = True) -> None:
        super().__init__()
        self.rnn = cell(
            3, 5, num_layers=layers, batch_first=True, bidirectional=bidirectional, dropout=0.3 if layers > 1 else 0.0
        )
        self.head = nn.Linear(5 * (2 if bidirectional else 1), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(24, T, 3, generator=g)
    return x, (x[:, 0, 0] > 0).long()


def _train(model: nn.Module, log: TrainingLog | None, epochs: int = 3, check: bool = False) -> list[dict]:
    """A plain loop: one full-batch step per epoch, then log.epoch (with a probe the log records gradients)."""
    x, y = _data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    entries = []
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        loss = _loss(model, (x, y))
        loss.backward()
        with torch.no_grad():  # in train mode: dropout draws random numbers, with or without the log
            acc = (model(x).argmax(-1) == y).float().mean()
        if log is not None:
            grads = [p.grad.clone() for p in model.parameters()]
            flags = [m.training for m in model.modules()]
            entries.append(log.epoch(model, metrics={"loss": loss.detach(), "val_acc": acc, "lr": 0.1}))
            if check:  # the log changed no .grad and no training flag
                assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
                assert [m.training for m in model.modules()] == flags
        opt.step()
    return entries


def _probe() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _data(seed=1)
    return x[:B], y[:B]


# ----- writing -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", [nn.GRU, nn.LSTM])
def test_a_plain_loop_logs_three_epochs(tmp_path, cell):
    torch.manual_seed(0)
    model = Net(cell)
    log = TrainingLog(tmp_path / "run", probe=_probe(), loss_fn=_loss)
    _train(model, log, check=True)
    run = json.loads((tmp_path / "run" / RUN_FILE).read_text())
    assert run["schema"] == SCHEMA and run["name"] == "run"
    assert [e["epoch"] for e in run["epochs"]] == [1, 2, 3]
    assert run["probe"] == {"batch": B, "steps": T}
    assert run["model"]["recurrent"] == [
        {"module": "rnn", "cell": cell.__name__.lower(), "input_size": 3, "hidden_size": 5, "num_layers": 2,
         "bidirectional": True}
    ]  # fmt: skip
    gates = {nn.GRU: {"reset", "update", "new"}, nn.LSTM: {"input", "forget", "cell_candidate", "output"}}[cell]
    for e in run["epochs"]:
        assert set(e["metrics"]) == {"loss", "val_acc", "lr"} and e["seconds"] >= 0
        series = [(p["module"], p["layer"], p["direction"]) for p in e["profile"]]
        assert series == [("rnn", layer, d) for layer in (0, 1) for d in ("fwd", "rev")]
        for p in e["profile"]:
            assert len(p["norms"]) == T and all(v is not None and v >= 0 for v in p["norms"])
        assert {s["quantity"] for s in e["saturation"]} == gates
        assert len(e["saturation"]) == 4 * len(gates)  # every layer and direction
        assert all(0.0 <= s["fraction"] <= 1.0 for s in e["saturation"])
    assert sorted(os.listdir(tmp_path / "run")) == [RUN_FILE]  # no temporary file left
    assert read_run(tmp_path / "run") == run


def test_the_log_changes_nothing_of_the_training(tmp_path):
    """The same seeded loop with and without the log ends with the same weights: no .grad, no training flag and
    no random number (dropout) is changed by the probe, even by a loss_fn that draws random numbers."""

    def noisy_loss(model, batch):
        return _loss(model, batch) + 0.0 * torch.rand(())

    weights = []
    for with_log in (False, True):
        torch.manual_seed(0)
        model = Net(nn.LSTM)
        log = TrainingLog(tmp_path / "run", probe=_probe(), loss_fn=noisy_loss) if with_log else None
        _train(model, log, epochs=3)
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_the_profile_is_the_mean_gradient_norm_through_time(tmp_path):
    """Against an independent unrolled GRUCell with the same weights: mean over the batch of ||dL/dh_t||."""
    torch.manual_seed(0)
    model = Net(nn.GRU, layers=1, bidirectional=False).double()
    x, y = _probe()
    x = x.double()
    model.train()  # the log measures in eval mode and gives the flag back
    entry = TrainingLog(tmp_path / "run", probe=(x, y), loss_fn=_loss).epoch(model, {"loss": 1.0})
    assert model.training and model.rnn.training
    cell = nn.GRUCell(3, 5).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(model.rnn, f"{name}_l0"))
    h = torch.zeros(B, 5, dtype=torch.float64)
    hs = []
    for t in range(T):
        h = cell(x[:, t], h)
        hs.append(h)
    loss = F.cross_entropy(model.head(hs[-1]), y)
    grads = torch.autograd.grad(loss, hs)  # total derivatives dL/dh_t, each (B, H)
    expected = [float(g.norm(dim=-1).mean()) for g in grads]
    np.testing.assert_allclose(entry["profile"][0]["norms"], expected, rtol=1e-5)


@pytest.mark.parametrize(("bias", "fraction"), [(0.0, 0.0), (60.0, 1.0)])
def test_saturation_of_known_gates(tmp_path, bias, fraction):
    """Zero weights: every sigmoid gate is σ(bias) and the candidate tanh(bias); 0.5 and 0 are not saturated, a bias
    of 60 saturates every gate."""
    model = Net(nn.GRU, layers=1, bidirectional=False)
    with torch.no_grad():
        for name, p in model.rnn.named_parameters():
            p.fill_(bias if name.startswith("bias_ih") else 0.0)
    entry = TrainingLog(tmp_path / "run", probe=_probe(), loss_fn=_loss).epoch(model, {"loss": 1.0})
    assert {s["quantity"]: s["fraction"] for s in entry["saturation"]} == {
        "reset": fraction,
        "update": fraction,
        "new": fraction,
    }


def test_a_tanh_rnn_logs_its_hidden_saturation_and_metrics_only_logs_work(tmp_path):
    model = Net(nn.RNN, layers=1, bidirectional=False)
    entry = TrainingLog(tmp_path / "rnn", probe=_probe(), loss_fn=_loss).epoch(model, {"loss": 1})
    assert [s["quantity"] for s in entry["saturation"]] == ["hidden"]
    log = TrainingLog(tmp_path / "plain", name="no probe")
    log.epoch(model, {"loss": 1.0}, epoch=0)  # an epoch 0 before any training
    log.epoch(model, {"loss": 0.5})
    run = read_run(tmp_path / "plain")
    assert run["probe"] is None and [e["epoch"] for e in run["epochs"]] == [0, 1]
    assert all(e["profile"] == [] and e["saturation"] == [] for e in run["epochs"])


def test_a_log_under_no_grad_still_records(tmp_path):
    model = Net(nn.LSTM)
    with torch.no_grad():
        entry = TrainingLog(tmp_path / "run", probe=_probe(), loss_fn=_loss).epoch(model, {"loss": 1.0})
        assert not torch.is_grad_enabled()  # given back
    assert len(entry["profile"]) == 4 and all(len(p["norms"]) == T for p in entry["profile"])


@pytest.mark.parametrize(
    ("metrics", "phrase"),
    [
        ({"loss": float("nan")}, "metrics['loss'] = nan is invalid"),
        ({"loss": float("inf")}, "finite"),
        ({"loss": True}, "metrics['loss'] = True"),
        ({"loss": "0.5"}, "finite int or float"),
        ({3: 0.5}, "metric name = 3"),
        ({"": 0.5}, "printable string of 1 to 64"),
        ({"a\nb": 0.5}, "printable"),
        ({f"m{i}": 0.0 for i in range(65)}, "at most 64"),
        ([("loss", 0.5)], "must be a mapping"),
        ({"loss": torch.ones(2)}, "finite int or float"),
    ],
)
def test_bad_metrics_are_refused_before_anything_is_written(tmp_path, metrics, phrase):
    log = TrainingLog(tmp_path / "run")
    with pytest.raises((ValueError, TypeError), match=None) as err:
        log.epoch(Net(), metrics)
    assert phrase in str(err.value), str(err.value)
    assert not (tmp_path / "run" / RUN_FILE).exists()


def test_bad_arguments_are_named(tmp_path):
    model = Net()
    with pytest.raises(ValueError, match="probe and loss_fn go together"):
        TrainingLog(tmp_path / "a", probe=_probe())
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        TrainingLog(tmp_path / "a", probe=_probe(), loss_fn=3)
    with pytest.raises(ValueError, match="name = '' is invalid"):
        TrainingLog(tmp_path / "a", name="")
    with pytest.raises(TypeError, match="tensorboard must be True or False"):
        TrainingLog(tmp_path / "a", tensorboard="yes")
    log = TrainingLog(tmp_path / "a")
    log.epoch(model, {"loss": 1.0}, epoch=5)
    with pytest.raises(ValueError, match="epoch = 5 is invalid; allowed: an integer from 6"):
        log.epoch(model, {"loss": 1.0}, epoch=5)
    with pytest.raises(ValueError, match="another model"):
        log.epoch(Net(nn.GRU), {"loss": 1.0})
    assert [e["epoch"] for e in read_run(tmp_path / "a")["epochs"]] == [5]  # refused epochs wrote nothing
    bad = TrainingLog(tmp_path / "b", probe=_probe(), loss_fn=lambda m, p: m(p[0]))  # (B, 2), not a scalar
    with pytest.raises(ValueError, match="must return a scalar tensor"):
        bad.epoch(model, {"loss": 1.0})


def test_a_folder_inside_a_git_work_tree_is_refused(tmp_path):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    folder = tmp_path / "repo" / "runs" / "mine"
    with pytest.raises(ValueError) as err:
        TrainingLog(folder)
    assert str(folder) in str(err.value) and "git work tree" in str(err.value)
    assert not folder.exists()


def test_existing_files_are_never_overwritten_or_removed(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / RUN_FILE).write_text("someone else's file")
    with pytest.raises(FileExistsError, match="resume=True"):
        TrainingLog(folder)
    assert (folder / RUN_FILE).read_text() == "someone else's file"
    (folder / RUN_FILE).unlink()
    model = Net()
    log = TrainingLog(folder, probe=_probe(), loss_fn=_loss)
    log.epoch(model, {"loss": 1.0})
    # a failing probe: nothing left in the model, the flag given back, run.json as before, no temporary file
    before = (folder / RUN_FILE).read_bytes()

    def boom(model, batch):
        model(batch[0])
        raise RuntimeError("boom")

    log._loss_fn = boom
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        log.epoch(model, {"loss": 0.5})
    assert leftovers(model) == [] and model.training and model.rnn.training
    assert (folder / RUN_FILE).read_bytes() == before
    assert sorted(os.listdir(folder)) == ["notes.txt", RUN_FILE]
    assert leftovers(model) == []
    # resume: the epochs go on
    TrainingLog(folder, resume=True, probe=_probe(), loss_fn=_loss).epoch(model, {"loss": 0.25})
    run = read_run(folder)
    assert [e["epoch"] for e in run["epochs"]] == [1, 2] and (folder / "notes.txt").read_text() == "mine"


def test_a_file_over_the_budget_is_refused_before_writing(tmp_path, monkeypatch):
    from lstmviz import traininglog

    log = TrainingLog(tmp_path / "run")
    log.epoch(Net(), {"loss": 1.0})
    monkeypatch.setattr(traininglog, "MAX_RUN_BYTES", 100)
    with pytest.raises(ValueError, match="more than the 100 a run file may"):
        log.epoch(Net(), {"loss": 1.0})
    assert len(json.loads((tmp_path / "run" / RUN_FILE).read_text())["epochs"]) == 1 and len(log.run["epochs"]) == 1


def test_tensorboard_missing_is_a_clear_import_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(ImportError, match="pip install tensorboard"):
        TrainingLog(tmp_path / "run", tensorboard=True)


def test_tensorboard_export(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with TrainingLog(tmp_path / "run", probe=_probe(), loss_fn=_loss, tensorboard=True) as log:
        entries = _train(Net(nn.GRU), log)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    loss = events.Scalars("metrics/loss")
    assert [s.step for s in loss] == [1, 2, 3]
    np.testing.assert_allclose([s.value for s in loss], [e["metrics"]["loss"] for e in entries], rtol=1e-6)
    last = events.Scalars("grad_norm/rnn.l1.rev/last_step")
    np.testing.assert_allclose(last[-1].value, entries[-1]["profile"][-1]["norms"][-1], rtol=1e-6)
    assert "saturation/rnn.l0/update" in events.Tags()["scalars"]


# ----- reading: run files are untrusted ----------------------------------------------------------------------------
def _good() -> dict:
    return {
        "schema": SCHEMA,
        "name": "r",
        "model": {"parameters": 10, "recurrent": [{"module": "rnn", "cell": "gru", "input_size": 3,
                                                   "hidden_size": 5, "num_layers": 1, "bidirectional": False}]},
        "probe": {"batch": 2, "steps": 3},
        "epochs": [{"epoch": 1, "metrics": {"loss": 0.5},
                    "profile": [{"module": "rnn", "layer": 0, "direction": "fwd", "norms": [0.1, None, 1.0]}],
                    "saturation": [{"module": "rnn", "layer": 0, "direction": "fwd", "quantity": "reset",
                                    "fraction": 0.5}]}],
    }  # fmt: skip


def _with(path: list, value) -> dict:
    run = _good()
    node = run
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return run


HOSTILE = {
    "not_json": (b"{not json", "is not valid JSON"),
    "not_utf8": (b"\xff\xfe{}", "is not valid JSON"),
    "a_list": (b"[1, 2]", "is not an lstmviz training run"),
    "other_schema": (json.dumps({**_good(), "schema": "x/1"}).encode(), "is not an lstmviz training run"),
    "name_int": (json.dumps(_with(["name"], 5)).encode(), "name = 5 is invalid"),
    "name_control": (json.dumps(_with(["name"], "a\u202eb")).encode(), "printable"),
    "epochs_dict": (json.dumps(_with(["epochs"], {})).encode(), "epochs = {} is invalid"),
    "metric_str": (json.dumps(_with(["epochs", 0, "metrics", "loss"], "0.5")).encode(), "metrics['loss']"),
    "metric_nan": (json.dumps(_with(["epochs", 0, "metrics", "loss"], float("nan"))).encode(), "a finite number"),
    "epoch_bool": (json.dumps(_with(["epochs", 0, "epoch"], True)).encode(), "epochs[0].epoch = True"),
    "norm_negative": (json.dumps(_with(["epochs", 0, "profile", 0, "norms", 0], -1)).encode(), "norms[0] = -1"),
    "fraction_2": (json.dumps(_with(["epochs", 0, "saturation", 0, "fraction"], 2)).encode(), "from 0 to 1"),
    "cell_evil": (json.dumps(_with(["model", "recurrent", 0, "cell"], "os.system")).encode(), "allowed: lstm"),
    "unknown_field": (json.dumps({**_good(), "exec": "rm -rf /"}).encode(), "unknown field 'exec'"),
    "missing_field": (json.dumps({k: v for k, v in _good().items() if k != "epochs"}).encode(), "epochs is missing"),
    "too_many_epochs": (
        json.dumps(
            _with(
                ["epochs"],
                [{"epoch": i, "metrics": {}, "profile": [], "saturation": []} for i in range(MAX_EPOCHS + 1)],
            )
        ).encode(),  # fmt: skip
        f"has {MAX_EPOCHS + 1:,} entries; allowed: at most {MAX_EPOCHS:,}",
    ),
    "long_profile": (
        json.dumps(_with(["epochs", 0, "profile", 0, "norms"], [0.5] * (MAX_STEPS + 1))).encode(),
        f"at most {MAX_STEPS:,}",
    ),
    "epochs_backwards": (
        json.dumps(
            _with(
                ["epochs"],
                [
                    {"epoch": 2, "metrics": {}, "profile": [], "saturation": []},
                    {"epoch": 2, "metrics": {}, "profile": [], "saturation": []},
                ],
            )
        ).encode(),
        "above the previous epoch's 2",
    ),  # fmt: skip
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
    "ten_mb": (b" " * (10 * 2**20) + json.dumps(_good()).encode(), "more than the"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_run_files_are_refused_with_the_file_named(tmp_path, case):
    data, phrase = HOSTILE[case]
    path = tmp_path / case / RUN_FILE
    path.parent.mkdir()
    path.write_bytes(data)
    with pytest.raises(RunError) as err:
        read_run(path.parent)
    msg = str(err.value)
    assert str(path) in msg and phrase in msg and "\n" not in msg, msg
    assert len(msg) < 600


def test_a_good_file_reads_and_a_symlink_out_of_its_folder_is_refused(tmp_path):
    (tmp_path / "outside.json").write_text(json.dumps(_good()))
    assert read_run(tmp_path / "outside.json")["name"] == "r"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / RUN_FILE).symlink_to(tmp_path / "outside.json")
    with pytest.raises(RunError, match="outside"):
        read_run(tmp_path / "run")
    assert MAX_RUN_BYTES < 10 * 2**20


def test_frames_feed_the_plots():
    runs = {"a": _good(), "b": _good()}
    assert curves_frame(runs)[["model", "split", "metric"]].values.tolist() == [
        ["a", "train", "loss"],
        ["b", "train", "loss"],
    ]
    prof = profile_frame(runs)
    assert prof["distance"].tolist() == [2, 0, 2, 0]
    fig = plots.grad_norm_curves(prof, x="distance")
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log"
    assert plots.grad_profile_heatmap(profile_epochs_frame(_good())).data[0].z.shape == (1, 2)
    assert saturation_frame(runs)["fraction"].tolist() == [0.5, 0.5]


# ----- the Training view -------------------------------------------------------------------------------------------
def _array(value) -> np.ndarray:
    """Decodes a plotly JSON array (a list or a base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).astype(float)
    return np.array(value, dtype=float)


@pytest.fixture
def runs_root(tmp_path) -> Path:
    """A run logged by a real loop, a metrics-only run whose name is Markdown, and a broken run file."""
    torch.manual_seed(0)
    root = tmp_path / "runs"
    _train(Net(nn.GRU), TrainingLog(root / "gru-run", probe=_probe(), loss_fn=_loss, name="my gru"))
    TrainingLog(root / "plain", name=":red[RED] **bold**").epoch(Net(), {"val_acc": 0.5})
    (root / "broken").mkdir()
    (root / "broken" / RUN_FILE).write_text(json.dumps(_with(["name"], 5)))
    (root / "not-a-run").mkdir()  # no run.json: not listed
    return root


def test_training_view_lists_the_users_runs_beside_the_checkpoints(ckpt_root, runs_root, monkeypatch):
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(ckpt_root))
    monkeypatch.setenv("LSTMVIZ_RUNS", str(runs_root))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/training.py").run()
    assert not at.exception, at.exception
    # the broken file: one short error naming it; the rest of the page works
    errors = [e.value.replace("\\", "") for e in at.error]
    assert len(errors) == 1 and str(runs_root / "broken" / RUN_FILE) in errors[0], errors
    assert errors[0].startswith("Прогон не прочитан") and "name = 5 is invalid" in errors[0]
    picker = at.multiselect(key="train_runs")
    assert picker.options == ["my gru · ваш", ":red[RED] **bold** · ваш"]
    assert set(picker.value) == {str(runs_root / "gru-run"), str(runs_root / "plain")}
    run = read_run(runs_root / "gru-run")
    figs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    # the main curves: the checkpoints' and the run's losses on one chart
    curves = figs[0]
    names = [tr["name"] for tr in curves["data"]]
    assert "my gru · ваш обучение" in names and any(n.startswith("sentiment-") for n in names), names
    mine = next(tr for tr in curves["data"] if tr["name"] == "my gru · ваш обучение" and tr.get("xaxis", "x") == "x")
    np.testing.assert_allclose(_array(mine["y"]), [e["metrics"]["loss"] for e in run["epochs"]], **SHOWN)
    # the runs' own metric chart (the first metric: loss)
    metric = next(f for f in figs if f["layout"]["title"]["text"] == "loss по эпохам")
    line = next(tr for tr in metric["data"] if tr["name"].startswith("my gru"))
    np.testing.assert_allclose(_array(line["y"]), [e["metrics"]["loss"] for e in run["epochs"]], **SHOWN)
    # the last epoch's gradient through time, one line per layer and direction, x = distance from the end
    prof = next(f for f in figs if f["layout"]["title"]["text"] == "Среднее ‖∂L/∂h_t‖ на пробном батче")
    assert len(prof["data"]) == 4 and prof["layout"]["yaxis"]["type"] == "log"
    top = next(tr for tr in prof["data"] if "l1" in tr["name"] and "fwd" in tr["name"])
    expected = run["epochs"][-1]["profile"][2]["norms"]  # rnn.l1 fwd (the reverse direction's is 0 before T-1)
    order = np.argsort(_array(top["x"]))
    np.testing.assert_allclose(_array(top["y"])[order], expected[::-1], **SHOWN)  # distance 0 = the last step
    # the run's heatmap shares the checkpoints' colour scale
    maps = [f["data"][0] for f in figs if f["data"] and f["data"][0].get("type") == "heatmap"]
    assert any(f["layout"]["title"]["text"] == "my gru · ваш" for f in figs)
    assert len({(m.get("zmin"), m.get("zmax")) for m in maps}) == 1
    # the Markdown name of the metrics-only run is inert where Markdown is rendered
    captions = [c.value for c in at.caption]
    assert any("\\:red\\[RED\\]" in c and "\\*\\*bold\\*\\*" in c for c in captions), captions
    assert not any(":red[RED]" in c for c in captions)
    # another metric is one pick away; the page in English too
    at.selectbox(key="train_run_metric").set_value("val_acc").run()
    assert not at.exception
    at.radio(key="lang").set_value("en").run()
    assert not at.exception and at.error[0].value.startswith("Run not read")


def test_training_view_with_runs_and_no_checkpoints(runs_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LSTMVIZ_CHECKPOINTS", str(tmp_path / "nothing"))
    monkeypatch.setenv("LSTMVIZ_RUNS", str(runs_root))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/training.py").run()
    assert not at.exception and at.info  # "no checkpoints"
    assert at.get("plotly_chart"), "the runs are still drawn"
    monkeypatch.setenv("LSTMVIZ_RUNS", str(tmp_path / "no-runs"))
    at.run()
    assert not at.exception and not at.error
    assert any(str(tmp_path / "no-runs") in c.value.replace("\\", "") for c in at.caption)
