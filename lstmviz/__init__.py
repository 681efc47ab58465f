"""lstmviz: record and visualise what happens inside PyTorch LSTM, GRU and RNN modules.

The recorder is the public core::

    import lstmviz
    with lstmviz.record(model, grads=True) as rec:
        loss = loss_fn(model(x))
        loss.backward()
    rec["rnn.l0.forget"]   # (B, T, H) forget-gate activations
    rec.to_frame()          # tidy DataFrame
    rec.grad_norms()        # per-step ||dL/dh_t||, ||dL/dc_t||

Text processing, models, training, checkpoints and plots live in submodules, imported on
demand: ``lstmviz.text``, ``lstmviz.models`` (recurrent classifiers), ``lstmviz.bow`` (the
bag-of-words baseline), ``lstmviz.pretrained`` (navec word vectors), ``lstmviz.taskdata`` (corpus
and online long-range tasks), ``lstmviz.trainer`` (``fit`` with callbacks), ``lstmviz.profiles``
(gradients through time, the float64 gradient ratio), ``lstmviz.experiments`` (train one, resume,
compare), ``lstmviz.sweeps`` (multi-seed sweeps), ``lstmviz.sentiment_study`` (multi-seed sentiment
comparison against the baseline), ``lstmviz.train`` (the CLI), ``lstmviz.checkpoint``; one text
through a model: ``lstmviz.sentence`` (analysis), ``lstmviz.whatifs`` (counterfactuals),
``lstmviz.diagnostics`` (reach, bounds, saturation), ``lstmviz.gradcompare`` (several models side
by side), ``lstmviz.tidy`` (history frames) and ``lstmviz.plots`` (figures from tidy frames);
``lstmviz.recordingio`` saves a recording and reads it back (``Recording.save``, ``Recording.load``).

Every submodule is also an attribute, imported on first use (PEP 562): ``lstmviz.plots.gates(rec, "l0.forget")``
works after a bare ``import lstmviz``, which itself loads neither pandas nor plotly. ``dir(lstmviz)`` lists them.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from .names import GATES, GRAD_QUANTITIES, QUANTITIES, KeyParts, make_key, parse_key
from .recorder import SUPPORTED_TYPES, find_recurrent_modules, record, trace
from .recording import FRAME_COLUMNS, GRAD_NORM_COLUMNS, Recording
from .tap import tap

__version__ = "0.1.0"

__all__ = [
    "record",
    "trace",
    "tap",
    "Recording",
    "find_recurrent_modules",
    "SUPPORTED_TYPES",
    "QUANTITIES",
    "GRAD_QUANTITIES",
    "GATES",
    "KeyParts",
    "make_key",
    "parse_key",
    "FRAME_COLUMNS",
    "GRAD_NORM_COLUMNS",
    "Adapter",
    "TrainingLog",
    "__version__",
]

# Classes of heavier submodules, imported on first use like the submodules: name -> (submodule, attribute).
_LAZY = {"Adapter": ("adapters", "Adapter"), "TrainingLog": ("traininglog", "TrainingLog")}


def _submodules() -> list[str]:
    """Names of the package's public submodules and subpackages (every one not starting with ``_``)."""
    return sorted(m.name for m in _pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str):
    """Imports a submodule on first access (``lstmviz.plots``, ``lstmviz.diagnostics``, ...), and the classes of
    :data:`_LAZY` (``lstmviz.Adapter``, ``lstmviz.TrainingLog``)."""
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(_importlib.import_module(f"{__name__}.{module}"), attribute)
    if not name.startswith("_") and name in _submodules():
        return _importlib.import_module(f"{__name__}.{name}")  # the import also sets it as an attribute here
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (dir(lstmviz) lists its names)")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_submodules()) | set(_LAZY))
