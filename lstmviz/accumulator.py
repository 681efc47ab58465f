"""Why a gated cell holds or loses a cue at long lags: its state at initialisation, and clipping during training.

With a forget bias b_f the LSTM cell ``c_t = f_t c_{t-1} + i_t g_t`` is a *leaky accumulator*: with constant gates
``c_t`` tends to ``g i / (1 - f)``, a gain of ``i / (1 - f)`` over what one step writes. At b_f = 4 (f = 0.982) and
PyTorch's default input bias (i ~ 0.5) the gain is ~ 27, so at initialisation the first tokens drive ``|c|`` far
into ``tanh``'s flat tails and every later token only adds to a pattern that persists. The GRU cannot do this:
``h_t = (1 - z) n_t + z h_{t-1}`` is a convex combination, so ``|h| < 1`` and its gain is 1 whatever the bias. A
negative input-gate bias (``ModelConfig.input_gate_bias``; -4 gives i ~ 0.02) brings the LSTM's gain back to ~ 1.

:func:`state_stats` measures one model on one batch in float64: ``keep`` (f or z), ``write`` (i or 1 - z), ``gain``
= write / (1 - keep) from the mean gates (exactly ``i / (1 - f)`` when the gates are constant), the final state's
mean and largest magnitude and the fraction of its units that are saturated (``|tanh(c_T)|`` or ``|h_T|`` above
:data:`SATURATED`). :func:`init_state_table` applies it to the sweeps' models exactly as they start training (the
same config, seed and held-out sequences). :func:`clip_table` summarises the gradient clipping the sweep runs saw.

Example (hand-set weights: every gate constant, so the gain is the analytic one):
    >>> import torch
    >>> from lstmviz.models import ModelConfig, RecurrentClassifier
    >>> m = RecurrentClassifier(ModelConfig(cell="lstm", vocab_size=3, embed_dim=2, hidden_size=2))
    >>> with torch.no_grad():
    ...     for p in m.rnn.parameters():
    ...         _ = p.zero_()
    ...     m.rnn.bias_ih_l0[:] = torch.tensor([0.0, 0.0, 4.0, 4.0, 9.0, 9.0, 0.0, 0.0])  # i, f, g, o blocks
    >>> s = state_stats(m, torch.ones(1, 300, dtype=torch.long), torch.tensor([300]))
    >>> round(s["gain"], 3), round(0.5 / (1 - 1 / (1 + math.exp(-4))), 3)  # i / (1 - f) with i = 0.5
    (27.799, 27.799)
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch

from lstmviz.experiments import model_config_for
from lstmviz.models import RecurrentClassifier
from lstmviz.recorder import record

__all__ = [
    "RECIPES",
    "SATURATED",
    "SCHEMA",
    "clip_table",
    "init_state_table",
    "lstm_gain",
    "read_study",
    "state_stats",
    "study",
    "study_markdown",
]

SATURATED = 0.95  # a unit is saturated when |tanh(c)| (LSTM) or |h| (GRU) exceeds this: tanh' < 0.1 there
SCHEMA = "lstmviz.accumulator/1"
# The recipes the shipped study compares at gate bias 4: (cell, input gate bias).
RECIPES = (("lstm", None), ("lstm", -4.0), ("gru", None))
_STUDY = {"lags": (10, 20, 50, 100, 200), "gate_bias": 4.0, "seeds": 3, "sequences": 256}  # the shipped study


def lstm_gain(input_gate: float, forget_gate: float) -> float:
    """The LSTM cell's accumulator gain with constant gates: ``c`` tends to ``g * i / (1 - f)``.

    Example:
        >>> round(lstm_gain(0.5, 1 / (1 + math.exp(-4))), 1)
        27.8
    """
    if not 0.0 <= forget_gate < 1.0:
        raise ValueError(f"forget_gate={forget_gate!r} is invalid; allowed: a number in [0, 1)")
    return input_gate / (1.0 - forget_gate)


def state_stats(model: RecurrentClassifier, x: torch.Tensor, lengths: torch.Tensor) -> dict[str, Any]:
    """The last layer's gates and final state on one batch, in float64 (the model itself is not changed).

    Args:
        model: A gated :class:`~lstmviz.models.RecurrentClassifier` (cell "lstm" or "gru").
        x: Its input, ``(B, T)`` ids or ``(B, T, F)`` features.
        lengths: ``(B,)`` valid steps; the final state is read at each sequence's last valid step.

    Returns:
        ``{"cell", "keep", "write", "gain", "state_mean_abs", "state_max_abs", "saturated"}``: mean forget gate f
        (GRU: update gate z), mean write weight i (GRU: 1 - z), ``write / (1 - keep)``, the mean and largest
        ``|c_T|`` (GRU: ``|h_T|``) over sequences and units, and the fraction of units with ``|tanh(c_T)|``
        (GRU: ``|h_T|``) above :data:`SATURATED`.

    Example:
        >>> from lstmviz.models import ModelConfig
        >>> m = RecurrentClassifier(ModelConfig(cell="gru", vocab_size=5, hidden_size=4))
        >>> state_stats(m, torch.randint(0, 5, (2, 7)), torch.tensor([7, 7]))["gain"]  # a convex combination
        1.0
    """
    cell = model.config.cell
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell={cell!r} has no gate; allowed: lstm, gru")
    last = model.config.num_layers - 1
    m64 = _float64_copy(model)
    with torch.no_grad(), record(m64, names="rnn") as rec:
        m64(x if x.dtype == torch.long else x.double(), lengths)
    at = torch.as_tensor(lengths) - 1  # (B,) index of each sequence's last step
    rows = torch.arange(len(at))
    valid = torch.arange(x.shape[1])[None, :] < torch.as_tensor(lengths)[:, None]  # (B, T)
    if cell == "lstm":
        keep, write = rec[f"rnn.l{last}.forget"], rec[f"rnn.l{last}.input"]  # (B, T, H)
        final = rec[f"rnn.l{last}.cell"][rows, at]  # (B, H)
        squashed = torch.tanh(final)
    else:
        keep = rec[f"rnn.l{last}.update"]
        write = 1.0 - keep
        final = squashed = rec[f"rnn.l{last}.hidden"][rows, at]
    k, w = float(keep[valid].mean()), float(write[valid].mean())
    return {
        "cell": cell,
        "keep": k,
        "write": w,
        # The GRU's write and keep weights sum to 1 exactly: its gain is 1 by construction.
        "gain": 1.0 if cell == "gru" else lstm_gain(w, k),
        "state_mean_abs": float(final.abs().mean()),
        "state_max_abs": float(final.abs().max()),
        "saturated": float((squashed.abs() > SATURATED).double().mean()),
    }


def _float64_copy(model: RecurrentClassifier) -> RecurrentClassifier:
    clone = RecurrentClassifier(model.config)
    clone.load_state_dict(model.state_dict())
    return clone.double().eval()


def init_state_table(
    *,
    task: str = "cue_recall",
    cells: Sequence[str] = ("gru", "lstm"),
    lags: Iterable[int] = (10, 20, 50, 100, 200),
    gate_bias: float = 4.0,
    input_gate_bias: float | None = None,
    seeds: Iterable[int] = range(3),
    sequences: int = 256,
) -> pd.DataFrame:
    """:func:`state_stats` of the sweeps' models at initialisation, per cell and lag, as mean over seeds.

    Each model is the one a sweep run with that cell, lag, bias and seed starts from (same config and seeded
    initialisation), fed the first ``sequences`` sequences of that run's test set.

    Returns:
        One row per (cell, lag): ``cell, lag, gate_bias, input_gate_bias, seeds, keep, write, gain,
        state_mean_abs, state_max_abs, saturated`` (``state_max_abs`` is the largest over seeds, the rest means).

    Example:
        >>> t = init_state_table(cells=["lstm"], lags=[200], seeds=[0], sequences=16)  # doctest: +SKIP
        >>> t.loc[0, "gain"] > 20  # doctest: +SKIP
        True
    """
    from lstmviz.sweeps import RunSpec  # not at the top: lstmviz.sweeps imports lstmviz.experiments
    from lstmviz.taskdata import prepare_online

    seeds = list(seeds)
    if not seeds or sequences < 1:
        raise ValueError(f"seeds={seeds!r}, sequences={sequences!r}: need at least one of each")
    rows = []
    for cell in cells:
        for lag in lags:
            stats = []
            for seed in seeds:
                extra = {"input_gate_bias": input_gate_bias} if input_gate_bias is not None and cell == "lstm" else {}
                spec = RunSpec(task, cell, int(lag), gate_bias, seed, model=extra)
                data = prepare_online(task, int(lag), seed=seed)
                model = RecurrentClassifier.seeded(model_config_for(data, spec.model_config()), seed)
                test = data.test
                stats.append(state_stats(model, test.x[:sequences], test.lengths[:sequences]))
            row = {
                "cell": cell,
                "lag": int(lag),
                "gate_bias": gate_bias,
                "input_gate_bias": input_gate_bias if cell == "lstm" else None,
                "seeds": len(seeds),
            }
            for key in ("keep", "write", "gain", "state_mean_abs", "saturated"):
                row[key] = statistics.fmean(s[key] for s in stats)
            row["state_max_abs"] = max(s["state_max_abs"] for s in stats)
            rows.append(row)
    return pd.DataFrame(rows)


def clip_table(sweep: Mapping[str, Any]) -> pd.DataFrame:
    """Gradient clipping in a sweep's runs: per row, the share of updates that clipping shortened.

    Runs written before clipping was measured (no ``clipped`` field) are left out and counted in ``unmeasured``.

    Returns:
        One row per (cell, lag, gate bias, variant): ``n`` runs measured, ``clipped_mean`` (mean over runs of
        each run's fraction of clipped updates; NaN without clipping), ``grad_norm_median`` (median over runs of
        each run's median pre-clipping gradient norm), ``unmeasured``.

    Example:
        >>> clip_table({"runs": [{"cell": "lstm", "lag": 200, "gate_bias": 4.0, "clipped": 1.0,
        ...                       "grad_norm_median": 3.0}]})["clipped_mean"].tolist()
        [1.0]
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in sweep["runs"]:
        groups.setdefault((r["cell"], r["lag"], r.get("gate_bias"), r.get("variant")), []).append(r)
    rows = []
    for (cell, lag, bias, variant), rs in groups.items():
        measured = [r for r in rs if "grad_norm_median" in r]
        clipped = [r["clipped"] for r in measured if r.get("clipped") is not None]
        norms = [r["grad_norm_median"] for r in measured if r.get("grad_norm_median") is not None]
        rows.append(
            {
                "cell": cell,
                "lag": lag,
                "gate_bias": bias,
                "variant": variant,
                "n": len(measured),
                "clipped_mean": statistics.fmean(clipped) if clipped else math.nan,
                "grad_norm_median": statistics.median(norms) if norms else math.nan,
                "unmeasured": len(rs) - len(measured),
            }
        )
    return pd.DataFrame(rows)


def study(**settings: Any) -> dict[str, Any]:
    """:func:`init_state_table` of every recipe in :data:`RECIPES` (settings: ``lags, gate_bias, seeds, sequences``).

    Example:
        >>> study(lags=[200], seeds=1, sequences=8)["rows"][0]["cell"]  # doctest: +SKIP
        'lstm'
    """
    cfg = {**_STUDY, **settings}
    rows = []
    for cell, input_bias in RECIPES:
        table = init_state_table(
            cells=[cell],
            lags=cfg["lags"],
            gate_bias=cfg["gate_bias"],
            input_gate_bias=input_bias,
            seeds=range(cfg["seeds"]),
            sequences=cfg["sequences"],
        )
        rows += table.to_dict("records")
    return {
        "schema": SCHEMA,
        "settings": {**cfg, "lags": list(cfg["lags"])},
        "saturated_above": SATURATED,
        "rows": rows,
    }


def _recipe_name(row: Mapping[str, Any]) -> str:
    name = f"{row['cell']}, bias {row['gate_bias']:g}"
    return name + (f", input gate bias {row['input_gate_bias']:g}" if row.get("input_gate_bias") is not None else "")


def study_markdown(data: Mapping[str, Any]) -> str:
    """The study as the README's markdown table (one row per recipe and lag).

    Example:
        >>> print(study_markdown(read_study("results/accumulator.json")))  # doctest: +SKIP
    """
    from lstmviz.experiments import markdown_table

    header = [
        "recipe",
        "lag",
        "mean f (GRU: z)",
        "mean i (GRU: 1−z)",
        "gain",
        "mean abs(c_T) (GRU: abs(h_T))",
        "max",
        "saturated",
    ]
    body = [
        [
            _recipe_name(r),
            r["lag"],
            f"{r['keep']:.3f}",
            f"{r['write']:.3f}",
            f"{r['gain']:.1f}",
            f"{r['state_mean_abs']:.2f}",
            f"{r['state_max_abs']:.1f}",
            f"{r['saturated']:.0%}",
        ]
        for r in data["rows"]
    ]
    cfg = data["settings"]
    note = (
        f"\nAt initialisation, float64; mean over seeds 0-{cfg['seeds'] - 1} of the sweep runs' own models, each fed "
        f"the first {cfg['sequences']} sequences of its test set; max: the largest over seeds; saturated: share of "
        f"units with |tanh(c_T)| (GRU: |h_T|) > {data['saturated_above']}.\n"
    )
    return markdown_table(header, body) + note


def read_study(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a file written by :func:`main`; a ValueError names the file and what is wrong.

    Example:
        >>> read_study("results/accumulator.json")["schema"]  # doctest: +SKIP
        'lstmviz.accumulator/1'
    """
    from lstmviz.safeio import read_json

    raw = read_json(path, 1 << 20, "an accumulator study")
    keys = ("cell", "lag", "gate_bias", "keep", "write", "gain", "state_mean_abs", "state_max_abs", "saturated")
    ok = (
        isinstance(raw, dict)
        and raw.get("schema") == SCHEMA
        and isinstance(raw.get("rows"), list)
        and isinstance(raw.get("settings"), dict)
        and all(isinstance(r, dict) and all(k in r for k in keys) for r in raw["rows"])
        and all(r["cell"] in ("lstm", "gru") for r in raw["rows"])
        and all(isinstance(r[k], (int, float)) for r in raw["rows"] for k in keys[1:])
    )
    if not ok:
        raise ValueError(f"{path}: not an accumulator study ({SCHEMA}) or rows lack {', '.join(keys)}")
    return raw


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lstmviz.accumulator --out results/accumulator``: writes the study's JSON and markdown."""
    from lstmviz.experiments import write_result

    ap = argparse.ArgumentParser(prog="python -m lstmviz.accumulator", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/accumulator", help="path stem of the .json and .md")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = study()
    write_result(args.out, data, study_markdown(data))
    print(study_markdown(data))


if __name__ == "__main__":
    main()
