"""The notebook API (issue 23): recording frames straight into the plots, gradient heatmaps that show, every public
function exported, lazy submodules, save/load without pickle (hostile files refused), mistyped keys and the
``_reverse`` alias, the narrow frame and Arrow."""

from __future__ import annotations

import inspect
import json
import os
import pickle
import struct
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import lstmviz
from lstmviz import plots, recording, recordingio
from lstmviz.names import canonical_key, direction_name, parse_key
from lstmviz.safeio import UnsafeFileError

LENGTHS = torch.tensor([5, 2, 4])  # (B,): packed, so the rows end at different steps (NaN past them)


class Tagger(nn.Module):
    """A bidirectional 2-layer LSTM under the module path ``lstm`` (keys ``lstm.l{n}[.rev].*``)."""

    def __init__(self, dtype=torch.float32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False))
        return out.data


def _record(dtype=torch.float32, grads=True):
    torch.manual_seed(0)
    model = Tagger(dtype)
    x = torch.randn(3, 5, 3, dtype=dtype)
    with lstmviz.record(model, grads=grads) as rec:
        out = model(x)
        if grads:
            rec.backward(out.pow(2).sum())
    return rec


@pytest.fixture(scope="module")
def rec():
    return _record()


# ----- frames straight into the plots ---------------------------------------------------------------------------
def test_grad_norm_curves_take_grad_norms_as_they_come(rec):
    norms = rec.grad_norms()
    assert "series" not in norms.columns and "distance" not in norms.columns
    fig = plots.grad_norm_curves(norms)
    # one line per layer, direction, batch row and quantity: 2 x 2 x 3 x 2
    assert len(fig.data) == 24
    (trace,) = [t for t in fig.data if t.name == plots.esc("lstm · l1 · rev · b1 ‖∂L/∂c_t‖")]
    expected = torch.linalg.vector_norm(rec["lstm.l1.rev.grad_cell"][1], dim=-1).numpy()
    np.testing.assert_allclose(np.asarray(trace.y, dtype=float), expected[: int(LENGTHS[1])], rtol=1e-6)
    # one colour per series (h and c of one series share it, dashed apart); the two layers are not both "LSTM blue"
    colour = {t.name.split(" ‖")[0]: t.line.color for t in fig.data}
    assert len(set(colour.values())) == len(colour) == 12
    assert colour["lstm · l0 · b0"] != colour["lstm · l1 · b0"]
    dashes = {t.line.dash for t in fig.data if t.name.startswith("lstm · l0 · b0 ")}
    assert dashes == {"solid", "dash"}


def test_distance_counts_from_each_sequences_last_step(rec):
    framed = plots.with_series(rec.grad_norms().query("quantity == 'grad_hidden' and layer == 0"))
    last = framed[framed["distance"] == 0]
    # every series (direction x batch row) has exactly one distance-0 row, at its own last valid step
    assert len(last) == 6 and last["series"].is_unique
    assert sorted(zip(last["batch"], last["step"])) == sorted([(b, int(n) - 1) for b, n in enumerate(LENGTHS)] * 2)
    fig = plots.grad_norm_curves(rec.grad_norms().query("batch == 1"), x="distance")
    assert all(min(t.x) == 0 and max(t.x) == int(LENGTHS[1]) - 1 for t in fig.data)


def test_with_series_names_the_source_and_keeps_a_given_series():
    df = pd.DataFrame({"module": "", "layer": [0, 0, 1], "direction": ["fwd", "rev", "fwd"], "step": [0, 0, 0]})
    assert plots.with_series(df)["series"].tolist() == ["l0", "l0 · rev", "l1"]
    given = df.assign(series="mine", distance=0)
    assert plots.with_series(given) is given


def test_series_colours_one_per_series_cell_colours_kept_for_cells():
    cells = plots.series_styles(["rnn", "gru", "lstm"])
    assert [s["color"] for s in cells.values()] == ["#d62728", "#2ca02c", "#1f77b4"]
    runs = plots.series_styles(["sentiment-lstm", "cue-lstm"])
    assert runs["sentiment-lstm"]["color"] == "#1f77b4" and runs["cue-lstm"]["color"] != "#1f77b4"
    derived = plots.series_styles(["rnn · l0", "rnn · l1"], by_cell=False)  # a module named rnn may hold an LSTM
    assert "#d62728" not in {s["color"] for s in derived.values()}
    assert len({s["color"] for s in derived.values()}) == 2


def test_two_lstm_runs_get_two_colours_and_coinciding_lines_stay_visible():
    one = pd.DataFrame({"quantity": "grad_hidden", "step": [0, 1, 2], "distance": [2, 1, 0], "norm": [0.1, 0.5, 1.0]})
    df = pd.concat([one.assign(series="lstm run a"), one.assign(series="lstm run b")])
    fig = plots.grad_norm_curves(df)
    a, b = fig.data
    assert a.line.color != b.line.color and a.marker.symbol[0] != b.marker.symbol[0]
    assert a.line.width > b.line.width  # the line beneath is wider: both colours show
    other = df.assign(norm=np.where(df["series"] == "lstm run b", df["norm"] * 2, df["norm"]))
    a, b = plots.grad_norm_curves(other).data
    assert a.line.width == b.line.width  # lines that do not coincide are drawn alike


def test_unit_lines_take_to_frame_of_one_unit(rec):
    frame = rec.to_frame(["forget", "cell"]).query("unit == 2 and batch == 0 and layer == 0")
    fig = plots.unit_lines(frame, [str(t) for t in range(5)])
    names = [t.name for t in fig.data]
    assert names == ["lstm · l0 · forget", "lstm · l0 · cell", "lstm · l0 · rev · forget", "lstm · l0 · rev · cell"]
    assert len({t.line.color for t in fig.data}) == 4
    np.testing.assert_array_equal(np.asarray(fig.data[1].y, dtype=float), rec["lstm.l0.cell"][0, :, 2].numpy())
    with pytest.raises(ValueError, match="one unit"):
        plots.unit_lines(rec.to_frame(["forget"]).query("batch == 0"), ["a"])


# ----- gradient heatmaps ----------------------------------------------------------------------------------------
def test_gates_on_a_gradient_key_fits_the_colour_range_to_the_data(rec):
    fig = plots.gates(rec, "lstm.l0.grad_hidden", batch=2)
    z = np.asarray(fig.data[0].z, dtype=float)
    top = float(np.nanmax(np.abs(z)))
    assert 0 < top < 1  # the test only means something when the values lie inside [-1, 1]
    assert fig.data[0].zmin == pytest.approx(-top) and fig.data[0].zmax == pytest.approx(top)
    assert z.shape == (4, int(LENGTHS[2]))
    fixed = plots.gates(rec, "lstm.l0.grad_hidden", zmin=-1e-3, zmax=2e-3).data[0]
    assert (fixed.zmin, fixed.zmax) == (-1e-3, 2e-3)
    assert plots.gates(rec, "lstm.l0.forget").data[0].zmax == 1.0  # gates keep their fixed range
    with pytest.raises(ValueError, match="zmin"):
        plots.gates(rec, "lstm.l0.forget", zmin=1, zmax=0)
    with pytest.raises(ValueError, match="batch"):
        plots.gates(rec, "lstm.l0.forget", batch=3)


def test_color_range_of_gradients_is_symmetric_from_the_data():
    assert plots.color_range("grad_cell", np.array([1e-3, -4e-3, np.nan]))[:2] == (-4e-3, 4e-3)
    assert plots.color_range("grad_hidden", np.zeros(3))[:2] == (-1.0, 1.0)  # all zero: any range shows it
    assert plots.color_range("cell", np.array([0.3]))[:2] == (-1.0, 1.0)  # unchanged


# ----- exports and lazy submodules ------------------------------------------------------------------------------
def test_every_public_function_of_plots_is_exported():
    public = {
        name
        for name, obj in vars(plots).items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == plots.__name__
    }
    assert public - set(plots.__all__) == set()
    assert {"gates", "reach_curves", "connectivity_heatmap", "with_series"} <= set(plots.__all__)
    assert all(hasattr(plots, name) for name in plots.__all__)


def test_submodules_are_attributes_and_listed():
    assert lstmviz.plots is plots and lstmviz.recordingio is recordingio
    assert lstmviz.diagnostics.unit_frame is not None
    assert {"plots", "diagnostics", "recordingio", "sentence"} <= set(dir(lstmviz))
    with pytest.raises(AttributeError, match="no attribute 'plotz'"):
        lstmviz.plotz  # noqa: B018


def test_import_lstmviz_loads_neither_pandas_nor_plotly():
    code = (
        "import sys, lstmviz; heavy = [m for m in ('pandas', 'plotly', 'pyarrow') if m in sys.modules]; "
        "lstmviz.plots.gates; print(heavy, 'plotly' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["[]", "True"], out.stdout + out.stderr


# ----- keys: did you mean, the _reverse alias --------------------------------------------------------------------
def test_unknown_key_suggests_a_few_close_keys(rec):
    with pytest.raises(KeyError) as info:
        rec["lstm.l0.foget"]  # noqa: B018
    msg = info.value.args[0]
    assert "did you mean 'lstm.l0.forget'" in msg
    assert msg.count("'lstm.") <= 6  # the key, at most three suggestions, two examples; never all 32 keys
    assert "32 keys" in msg
    with pytest.raises(KeyError, match="no recorded tensor 'nonsense'"):
        rec["nonsense"]  # noqa: B018


def test_reverse_alias_reads_the_rev_key_with_one_note(rec, monkeypatch):
    monkeypatch.setattr(recording, "_ALIAS_NOTED", set())
    with pytest.warns(UserWarning, match=r"'lstm.l1.rev.forget'"):
        x = rec["lstm.l1_reverse.forget"]
    torch.testing.assert_close(x, rec["lstm.l1.rev.forget"], equal_nan=True, rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec["lstm.l1_reverse.forget"]  # noqa: B018 - noted once only
    assert canonical_key("l0_reverse.hidden") == "l0.rev.hidden" and canonical_key("l0.hidden") == "l0.hidden"
    with pytest.warns(UserWarning, match=r"'lstm.l0.rev.cell'"):
        fig = plots.gates(rec, "lstm.l0_reverse.cell")
    assert fig.layout.title.text == "lstm.l0_reverse.cell" and fig.data[0].zmin < 0


# ----- frames: unchanged default, narrow, Arrow -------------------------------------------------------------------
def _legacy_frame(rec) -> pd.DataFrame:
    """to_frame() as built before issue 23 (one frame per key, concatenated)."""
    frames = []
    for key in rec.keys():
        kp, arr = parse_key(key), rec[key].numpy()
        idx = np.meshgrid(*(np.arange(n) for n in arr.shape), indexing="ij")
        vals = arr.reshape(-1)
        keep = ~np.isnan(vals)
        n = int(keep.sum())
        cols = {
            "module": np.full(n, kp.module, dtype=object),
            "layer": np.full(n, kp.layer),
            "direction": np.full(n, direction_name(kp.direction), dtype=object),
            "quantity": np.full(n, kp.quantity, dtype=object),
        }
        for name, i in zip(("batch", "step", "unit"), idx):
            cols[name] = i.reshape(-1)[keep]
        cols["value"] = vals[keep].astype(np.float64)
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


def test_default_frame_is_what_it_was(rec):
    pd.testing.assert_frame_equal(rec.to_frame(), _legacy_frame(rec))
    assert list(rec.to_frame("forget")["quantity"].unique()) == ["forget"]  # one name as a string
    with pytest.raises(ValueError, match="unknown quantities"):
        rec.to_frame(["foget"])


def test_narrow_frame_and_arrow_hold_the_same_rows_in_less_memory(rec):
    wide, narrow = rec.to_frame(), rec.to_frame(narrow=True)
    assert {str(narrow[c].dtype) for c in ("layer", "batch", "step", "unit")} == {"int32"}
    assert narrow["value"].dtype == np.float32
    assert all(isinstance(narrow[c].dtype, pd.CategoricalDtype) for c in ("module", "direction", "quantity"))
    pd.testing.assert_frame_equal(
        narrow.astype({"module": str, "direction": str, "quantity": str, "value": "float64"}),
        wide.astype({c: "int32" for c in ("layer", "batch", "step", "unit")}),
        check_dtype=False,
    )
    assert narrow.memory_usage(deep=True).sum() < 0.5 * wide.memory_usage(deep=True).sum()
    table = rec.to_arrow()
    assert table.column_names == list(lstmviz.FRAME_COLUMNS) and table.num_rows == len(wide)
    back = table.to_pandas()
    np.testing.assert_array_equal(back["value"].to_numpy(), narrow["value"].to_numpy())
    assert back["quantity"].astype(str).tolist() == wide["quantity"].tolist()


# ----- save / load -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_save_load_round_trip_is_bit_equal(tmp_path, dtype):
    rec = _record(dtype)
    rec.save(tmp_path / "rec")
    back = lstmviz.Recording.load(tmp_path / "rec")
    assert back.keys() == rec.keys() and back.modules == rec.modules and back.grads
    for key in rec.keys():
        a, b = rec[key], back[key]
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        assert torch.equal(torch.isnan(a), torch.isnan(b))  # NaN past each length, in the same places
        assert torch.equal(a.nan_to_num(123.0), b.nan_to_num(123.0))  # bit for bit elsewhere
    assert torch.equal(back.lengths("lstm"), rec.lengths("lstm"))
    pd.testing.assert_frame_equal(back.to_frame(), rec.to_frame())
    pd.testing.assert_frame_equal(back.grad_norms(), rec.grad_norms())
    assert back.capture_paths == rec.capture_paths
    assert len(plots.gates(back, "lstm.l1.rev.grad_cell").data) == 1
    with pytest.raises(KeyError, match="did you mean"):
        back["lstm.l1.foget"]  # noqa: B018


def test_save_without_backward_keeps_the_forward_values(tmp_path):
    rec = _record(grads=False)
    rec.save(tmp_path)
    back = recordingio.load(tmp_path)
    assert not back.grads and back.keys() == rec.keys()
    with pytest.raises(KeyError, match="without gradients"):
        back["lstm.l0.grad_hidden"]  # noqa: B018


def test_no_pickle_is_used(tmp_path, monkeypatch, rec):
    def refuse(*a, **k):
        raise AssertionError("pickle used")

    for mod, name in ((pickle, "load"), (pickle, "loads"), (pickle, "dump"), (pickle, "dumps"), (torch, "load")):
        monkeypatch.setattr(mod, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    rec.save(tmp_path)
    recordingio.load(tmp_path)
    raw = (tmp_path / recordingio.TENSORS_FILE).read_bytes()
    assert raw[:1] != b"\x80" and raw[8:9] == b"{"  # a safetensors header, not a pickle
    assert sorted(p.name for p in tmp_path.iterdir()) == [recordingio.MANIFEST_FILE, recordingio.TENSORS_FILE]


@pytest.fixture()
def saved(tmp_path, rec):
    folder = tmp_path / "rec"
    rec.save(folder)
    return folder


def _edit_manifest(folder, change):
    path = folder / recordingio.MANIFEST_FILE
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(version="1"), "version"),
        (lambda m: m.update(version=99), "newer lstmviz"),
        (lambda m: m.update(grads="yes"), "grads"),
        (lambda m: m.update(keys={"a": 1}), "keys is not a list"),
        (lambda m: m.update(evil=1), "unknown fields"),
        (lambda m: m.pop("lengths"), "missing fields"),
        (lambda m: m["keys"].__setitem__(0, "../../etc.l0.forget"), "not among the modules"),
        (lambda m: m["modules"].update({"../x": "lstm"}), "malformed"),
        (lambda m: m["keys"].__setitem__(0, "lstm.l0_reverse.input"), "malformed|canonical"),
        (lambda m: m["keys"].__setitem__(0, 7), "not a string"),
        (lambda m: m["modules"].update(lstm="transformer"), "cell type"),
        (lambda m: m["lengths"].update(lstm=[5, -2, 4]), "non-negative"),
        (lambda m: m["lengths"].update(lstm=[5, 2]), "does not fit"),
        (lambda m: m["lengths"].update(lstm=[50, 2, 4]), "does not fit"),
        (lambda m: m["keys"].pop(), "not in the manifest"),
    ],
)
def test_hostile_manifests_are_refused_naming_the_file(saved, change, message):
    _edit_manifest(saved, change)
    with pytest.raises(UnsafeFileError, match=message) as info:
        recordingio.load(saved)
    assert str(saved) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"not json {", b"[" * 100_000 + b"]" * 100_000, b"[1, 2]", b"\xff\xfe"],
    ids=["garbage", "deep", "array", "not-utf8"],
)
def test_non_json_manifests_are_refused(saved, content):
    (saved / recordingio.MANIFEST_FILE).write_bytes(content)
    with pytest.raises(UnsafeFileError, match="recording.json"):
        recordingio.load(saved)


def _rewrite_header(folder, change):
    """Rewrites the safetensors header of a saved recording (the data bytes stay as they are)."""
    path = folder / recordingio.TENSORS_FILE
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    change(header)
    new = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])


def test_huge_shapes_are_refused_before_any_data_is_read(saved):
    def huge(h):
        h["lstm.l0.forget"]["shape"] = [10**12, 10**12, 10**12]

    _rewrite_header(saved, huge)
    with pytest.raises(UnsafeFileError, match="more than the") as info:
        recordingio.load(saved)
    assert "recording.safetensors" in str(info.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: h["lstm.l0.forget"].update(dtype="I64"), "dtype"),
        (lambda h: h["lstm.l0.forget"].update(shape=[3, 5]), "expected"),
        (lambda h: h["lstm.l0.forget"].update(shape=[3, 5, 2]), "offsets span"),
        (lambda h: h["lstm.l0.forget"].update(data_offsets=[0, 4]), "offsets span"),
        (lambda h: h.update({"lstm.l9.forget": h.pop("lstm.l0.forget")}), "not in the manifest"),
    ],
)
def test_headers_that_disagree_with_the_manifest_are_refused(saved, change, message):
    _rewrite_header(saved, change)
    with pytest.raises(UnsafeFileError, match=message):
        recordingio.load(saved)


def test_budget_truncation_pickles_and_escaping_symlinks_are_refused(saved, tmp_path):
    with pytest.raises(UnsafeFileError, match="more than the"):
        recordingio.load(saved, max_bytes=1000)
    tensors = saved / recordingio.TENSORS_FILE
    raw = tensors.read_bytes()
    tensors.write_bytes(raw[:-4])
    with pytest.raises(UnsafeFileError, match="the header describes"):
        recordingio.load(saved)
    tensors.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafeFileError, match="never unpickles"):
        recordingio.load(saved)
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(raw)
    tensors.unlink()
    tensors.symlink_to(outside)
    with pytest.raises(UnsafeFileError, match="outside"):
        recordingio.load(saved)
    with pytest.raises(UnsafeFileError, match="not a folder"):
        recordingio.load(tmp_path / "missing")


def test_a_fifo_in_place_of_the_tensors_is_refused_without_blocking(saved):
    tensors = saved / recordingio.TENSORS_FILE
    tensors.unlink()
    os.mkfifo(tensors)
    with pytest.raises(UnsafeFileError, match="FIFO"):
        recordingio.load(saved)
