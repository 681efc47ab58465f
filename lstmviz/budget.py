"""Work budgets: how much one view may record, tabulate and draw for one model, checked before the work starts.

The parameter limit of a checkpoint (:data:`lstmviz.checkpoint.MAX_PARAMETERS`) bounds what a model holds, not
what a view does with it: a char-LM of 63 M parameters (LSTM, 1,024 units, 8 layers) is within it, yet its cell
finder would record 6 quantities × 8 layers × 1,024 units × 20,000 characters (3.9 GB of float32). A view
therefore states the work it is about to do (:class:`Work`, computed from the config alone: nothing is loaded)
and :func:`check_work` refuses it, naming the model, the work and the budget, when it is above
:class:`WorkBudget`. The defaults leave every shipped model (checkpoints/) a margin of at least 3 in every view
(tests/test_budgets.py computes it; README, "Limits", lists the measured costs).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WorkBudget", "Work", "WorkBudgetError", "DEFAULT_BUDGET", "BYTES_PER_NUMBER", "check_work", "work_of"]

# JSON bytes per number a chart draws, after plots.compact (4 significant digits, typed arrays) plus axes: an
# over-estimate (measured: a 128 × 280 heatmap of the Generation view is about 0.2 MB, i.e. 5.5 bytes a number).
BYTES_PER_NUMBER = 8


@dataclass(frozen=True)
class WorkBudget:
    """Limits on one run of one view for one model (all counted before any work, from the config).

    Attributes:
        max_values: numbers one run records: units × layers × directions × steps × quantities × batch (batch: the
            batched backward of the connectivity runs one copy per output step). 100 M numbers are 400 MB as
            float32; the shipped models need at most 33 M (tagger-lstm's connectivity over 120 words).
        max_rows: recorded numbers turned into rows of a tidy table (one row per number, about 70 bytes each in
            pandas): 2 M rows are about 140 MB; the shipped models need at most 430 k (charlm-lstm's Generation
            view: 128 units × 2 layers × 280 characters × 6 quantities).
        max_figure_bytes: estimated JSON of one chart (:data:`BYTES_PER_NUMBER` per number drawn): 2 MB; the
            shipped models need at most 0.3 MB (charlm-lstm's heatmap, 128 units × 280 characters).
    """

    max_values: int = 100_000_000  # 400 MB of float32; shipped worst 33 M (tagger connectivity)
    max_rows: int = 2_000_000  # ~140 MB of tidy rows; shipped worst 430 k (charlm-lstm generation)
    max_figure_bytes: int = 2_000_000  # one chart's JSON; shipped worst ~0.3 MB (charlm-lstm heatmap)


DEFAULT_BUDGET = WorkBudget()


@dataclass(frozen=True)
class Work:
    """What one run of a view computes for one model.

    Attributes:
        what: the run, e.g. ``"cell finder"``.
        units, layers, directions: the recurrent module's size.
        steps: sequence length (characters, tokens or words) the run records.
        quantities: quantities recorded per layer, direction and step.
        batch: copies recorded at once (the connectivity's batched backward: one per output step).
        tabulated: whether every recorded number becomes a row of a tidy table.
        drawn: numbers the run's largest chart draws.
    """

    what: str
    units: int
    layers: int
    directions: int
    steps: int
    quantities: int
    batch: int = 1
    tabulated: bool = False
    drawn: int = 0

    @property
    def values(self) -> int:
        """Numbers recorded: units × layers × directions × steps × quantities × batch."""
        return self.units * self.layers * self.directions * self.steps * self.quantities * self.batch

    @property
    def rows(self) -> int:
        """Rows of tidy tables: the recorded numbers when tabulated, else 0."""
        return self.values if self.tabulated else 0

    @property
    def figure_bytes(self) -> int:
        """Estimated JSON of the largest chart."""
        return self.drawn * BYTES_PER_NUMBER

    def formula(self) -> str:
        """The product spelled out, e.g. ``"1024 units × 8 layers × 1 direction × 20,000 steps × 6 quantities"``."""
        parts = [
            f"{self.units:,} units",
            f"{self.layers} layer{'s' if self.layers != 1 else ''}",
            f"{self.directions} direction{'s' if self.directions != 1 else ''}",
            f"{self.steps:,} steps",
            f"{self.quantities} quantit{'ies' if self.quantities != 1 else 'y'}",
        ]
        if self.batch != 1:
            parts.append(f"{self.batch:,} copies")
        return " × ".join(parts)


class WorkBudgetError(ValueError):
    """A view's work for a model is above its :class:`WorkBudget`; raised before any work.

    Attributes:
        model: the model's name.
        work: the refused :class:`Work`.
        measure: ``"values"``, ``"rows"`` or ``"figure_bytes"``: which limit it exceeds.
        amount: the work in that measure.
        limit: the budget's limit for that measure.
    """

    def __init__(self, model: str, work: Work, measure: str, amount: int, limit: int) -> None:
        self.model, self.work, self.measure, self.amount, self.limit = model, work, measure, amount, limit
        unit = {"values": "recorded numbers", "rows": "table rows", "figure_bytes": "bytes of chart JSON"}[measure]
        super().__init__(
            f"model {model!r}: the {work.what} would need {amount:,} {unit} ({work.formula()}), above the work "
            f"budget of {limit:,} {unit}; refused before any work (see README, Limits)"
        )


def check_work(
    model_name: str,
    units: int,
    layers: int,
    directions: int,
    steps: int,
    quantities: int,
    budget: WorkBudget = DEFAULT_BUDGET,
    *,
    what: str = "view",
    batch: int = 1,
    tabulated: bool = False,
    drawn: int = 0,
) -> Work:
    """Refuses a run above ``budget`` before it starts; returns the :class:`Work` otherwise.

    Raises:
        WorkBudgetError: naming the model, the work (and its product) and the budget.

    Example:
        >>> check_work("charlm-lstm", 128, 2, 1, 20_000, 6, what="cell finder").values
        30720000
        >>> try:
        ...     check_work("big", 1024, 8, 1, 20_000, 6, what="cell finder")
        ... except WorkBudgetError as e:
        ...     print(e.amount, e.limit, str(e)[:51])
        983040000 100000000 model 'big': the cell finder would need 983,040,000
    """
    work = Work(what, units, layers, directions, steps, quantities, batch, tabulated, drawn)
    for measure, limit in (
        ("values", budget.max_values),
        ("rows", budget.max_rows),
        ("figure_bytes", budget.max_figure_bytes),
    ):
        amount = getattr(work, measure)
        if amount > limit:
            raise WorkBudgetError(model_name, work, measure, amount, limit)
    return work


def work_of(model_name: str, works: list[Work], budget: WorkBudget = DEFAULT_BUDGET) -> list[Work]:
    """:func:`check_work` of every run a view plans, in order (the first refused one raises)."""
    for w in works:
        check_work(
            model_name,
            w.units,
            w.layers,
            w.directions,
            w.steps,
            w.quantities,
            budget,
            what=w.what,
            batch=w.batch,
            tabulated=w.tabulated,
            drawn=w.drawn,
        )
    return works
