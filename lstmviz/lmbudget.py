"""The character models at two update budgets: is the gap between the cells a ranking, or the budget?

The shipped ``charlm-{rnn,gru,lstm}`` stop after 3,000 updates, and for all three the best validation point is the
last one: they were still improving. :func:`budget_study` puts each shipped model (3,000 updates) beside the same
command run for longer (``--epochs 16``: 4,000 updates, the same seed, data order and thread count, so its first
3,000 updates are the shipped run's), and reports validation and test bits per character and the spread between
the cells (largest minus smallest) at each budget. The longer runs are not shipped (the cell-finder table, the
screenshots and the lessons use the shipped models); their numbers and histories are kept in the study file.

Example::

    python -m lstmviz.lmbudget --shipped checkpoints --longer /tmp/charlm4k --out results/charlm_budget
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CELLS", "SCHEMA", "best_is_last", "budget_markdown", "budget_study", "read_budget"]

SCHEMA = "lstmviz.lmbudget/1"
CELLS = ("rnn", "gru", "lstm")


def best_is_last(meta: Mapping[str, Any]) -> bool:
    """Whether a character model's lowest validation bits per character is its last evaluation (still improving).

    Example:
        >>> best_is_last({"history": [{"updates": 250, "val_bpc": 3.0}, {"updates": 500, "val_bpc": 2.9}]})
        True
    """
    hist = meta["history"]
    return min(range(len(hist)), key=lambda k: hist[k]["val_bpc"]) == len(hist) - 1


def _read_meta(folder: Path) -> dict[str, Any]:
    from lstmviz.safeio import read_json

    return read_json(folder / "meta.json", 4 << 20, "a character model's meta.json")


def _point(meta: Mapping[str, Any], updates: int) -> dict[str, Any]:
    h = next((h for h in meta["history"] if h["updates"] == updates), None)
    if h is None:
        raise ValueError(f"no evaluation at {updates} updates in this history")
    return {"updates": updates, "val_bpc": h["val_bpc"]}


def budget_study(shipped: str | os.PathLike, longer: str | os.PathLike) -> dict[str, Any]:
    """Validation and test bits per character of each cell at the shipped budget and at the longer run's.

    Args:
        shipped: The folder holding ``charlm-{rnn,gru,lstm}`` as shipped.
        longer: The folder holding the same names trained for more updates with the same command.

    Returns:
        ``{"schema", "budgets": [3000, 4000], "cells": {cell: {"shipped_best_is_last", "points": [{"updates",
        "val_bpc", "test_bpc"}, ...], "longer_history": [[updates, val_bpc], ...]}}, "spread": [{"updates",
        "val_bpc", "test_bpc"}, ...]}``; the first budget's validation score must be the same in both runs
        (the longer run repeats the shipped one), else a ValueError says which cell differs.

    Example:
        >>> budget_study("checkpoints", "/tmp/charlm4k")["spread"][0]["updates"]  # doctest: +SKIP
        3000
    """
    cells: dict[str, Any] = {}
    budgets: list[int] = []
    for cell in CELLS:
        a, b = _read_meta(Path(shipped) / f"charlm-{cell}"), _read_meta(Path(longer) / f"charlm-{cell}")
        first, last = a["updates"], b["updates"]
        if last <= first:
            raise ValueError(f"charlm-{cell}: the longer run has {last} updates, the shipped one {first}")
        again = _point(b, first)["val_bpc"]
        if abs(again - a["test_metrics"]["val_bpc"]) > 1e-9:
            raise ValueError(
                f"charlm-{cell}: the longer run's validation at {first} updates is {again}, the shipped model's "
                f"{a['test_metrics']['val_bpc']}: it did not repeat the shipped run"
            )
        if not best_is_last(b):
            raise ValueError(
                f"charlm-{cell}: the longer run's best point is not its last; its test score is not at {last}"
            )
        budgets = [first, last]
        cells[cell] = {
            "shipped_best_is_last": best_is_last(a),
            "points": [
                {"updates": first, "val_bpc": a["test_metrics"]["val_bpc"], "test_bpc": a["test_metrics"]["bpc"]},
                {"updates": last, "val_bpc": b["test_metrics"]["val_bpc"], "test_bpc": b["test_metrics"]["bpc"]},
            ],
            "longer_history": [[h["updates"], h["val_bpc"]] for h in b["history"]],
            "longer_seconds": b["train_seconds"],
        }
    spread = []
    for k, updates in enumerate(budgets):
        row: dict[str, Any] = {"updates": updates}
        for key in ("val_bpc", "test_bpc"):
            vals = [cells[c]["points"][k][key] for c in CELLS]
            row[key] = max(vals) - min(vals)
        spread.append(row)
    return {"schema": SCHEMA, "budgets": budgets, "cells": cells, "spread": spread}


def budget_markdown(study: Mapping[str, Any]) -> str:
    """The study as the README's table: test (validation) bits per character per cell and budget, and the spread.

    Example:
        >>> print(budget_markdown(read_budget("results/charlm_budget.json")))  # doctest: +SKIP
    """
    from lstmviz.experiments import markdown_table

    header = ["updates", *(f"charlm-{c} test (val) bits/char" for c in CELLS), "spread test (val)"]
    body = []
    for k, updates in enumerate(study["budgets"]):
        pts = [study["cells"][c]["points"][k] for c in CELLS]
        sp = study["spread"][k]
        body.append(
            [
                f"{updates:,}",
                *(f"{p['test_bpc']:.3f} ({p['val_bpc']:.3f})" for p in pts),
                f"{sp['test_bpc']:.3f} ({sp['val_bpc']:.3f})",
            ]
        )
    last = all(study["cells"][c]["shipped_best_is_last"] for c in CELLS)
    note = (
        f"\nShipped models at {study['budgets'][0]:,} updates; the same commands with --epochs 16 at "
        f"{study['budgets'][1]:,} (their first {study['budgets'][0]:,} updates repeat the shipped runs). "
        + ("Every shipped model's best validation point is its last." if last else "")
        + "\n"
    )
    return markdown_table(header, body) + note


def read_budget(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a file written by :func:`main`; a ValueError names the file and what is wrong.

    Example:
        >>> read_budget("results/charlm_budget.json")["budgets"]  # doctest: +SKIP
        [3000, 4000]
    """
    from lstmviz.safeio import read_json

    raw = read_json(path, 1 << 20, "a character-model budget study")
    ok = (
        isinstance(raw, dict)
        and raw.get("schema") == SCHEMA
        and isinstance(raw.get("budgets"), list)
        and isinstance(raw.get("cells"), dict)
        and set(raw["cells"]) == set(CELLS)
        and isinstance(raw.get("spread"), list)
    )
    if not ok:
        raise ValueError(f"{path}: not a character-model budget study ({SCHEMA})")
    return raw


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m lstmviz.lmbudget --shipped checkpoints --longer DIR --out results/charlm_budget``."""
    from lstmviz.experiments import write_result

    ap = argparse.ArgumentParser(prog="python -m lstmviz.lmbudget", description=__doc__.split("\n")[0])
    ap.add_argument("--shipped", default="checkpoints", help="folder of the shipped charlm-* models")
    ap.add_argument("--longer", required=True, help="folder of the same models trained with --epochs 16")
    ap.add_argument("--out", default="results/charlm_budget", help="path stem of the .json and .md")
    args = ap.parse_args(argv)
    study = budget_study(args.shipped, args.longer)
    write_result(args.out, study, budget_markdown(study))
    print(budget_markdown(study))


if __name__ == "__main__":
    main()
