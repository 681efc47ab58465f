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
by side), ``lstmviz.tidy`` (history frames) and ``lstmviz.plots`` (figures from tidy frames).
"""

from .names import GATES, GRAD_QUANTITIES, QUANTITIES, KeyParts, make_key, parse_key
from .recorder import SUPPORTED_TYPES, find_recurrent_modules, record, trace
from .recording import FRAME_COLUMNS, GRAD_NORM_COLUMNS, Recording

__version__ = "0.1.0"

__all__ = [
    "record",
    "trace",
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
    "__version__",
]
