"""Record a whole corpus through your own model (an :class:`~lstmviz.adapters.Adapter`) into the same Parquet dataset.

``python -m lstmviz.corpus record --models my_models.py:word-lm --data corpus.csv --out /tmp/rec`` does for a
user's model what ``--checkpoint`` does for a shipped one (:mod:`lstmviz.corpus.record`): the same parts, footers,
resumption and shards, one row per token (``sentence_id, step, token, lemma, start, end, unknown``; ``lemma`` is the
token and ``unknown`` is False: an adapter's tokenizer has no lemmas and no vocabulary to miss) and one fixed-size
list column per stored module, layer, direction and quantity, so every query (``top``, ``match``, DuckDB) reads it
unchanged.

Which modules are stored: only a module that steps once per token can give a value per token row. A module is
stored when its step count equals the token count on every probed text (the first :data:`PROBE_TEXTS` texts with a
token) and, when the adapter names ``token_modules``, it is one of them; every other module the model ran (a
decoder stepping over its outputs) is skipped, and the manifest's ``skipped_modules`` says why. A stored module
that steps otherwise on a later text stops the recording, naming the sentence and the module.

Column names are those of a checkpoint's recording (``hidden_l0_fwd``) when one module is stored; with several,
each column carries its module's prefix: ``<prefix>__<quantity>_l<layer>_<fwd|rev>``, the prefix being the module
path lowercased with every character other than ``[a-z0-9_]`` made ``_`` (and ``m`` in front when it does not start
with a letter; :func:`lstmviz.corpus.record.column_prefix`), e.g. ``cells_0__hidden_l0_fwd`` for ``cells.0``.
Two modules that make one prefix are refused, naming both.

Each text runs alone through the adapter (its forward takes ids ``(1, T)``), under ``torch.no_grad()`` inside
:func:`lstmviz.record`, on the model in eval mode (a copy when the user's model is in training mode: the model is
never changed), exactly as :func:`lstmviz.adapters.analyze` records it, so the stored float32 values are the ones
``lstmviz.record`` gives for that text. ``--batch-size`` does not apply.

The manifest names the source as ``models file <absolute path>:<adapter name>`` (``adapter <name>`` for an adapter
handed over from Python) instead of a checkpoint. A rerun resumes only the same recording: the same source, the
same weights (:func:`lstmviz.models.weights_fingerprint`), the same stored modules and the settings a checkpoint's
recording compares. A models file is code the user chose to run: it is named on the command line only. Nothing
ever imports a file a manifest names; a query reads the manifest and the parts, never the model.

Example::

    manifest = record_adapter_corpus("my_models.py:word-lm", "corpus.csv", "/tmp/rec", dtype="float32")
    CorpusQuery("/tmp/rec").top_contexts("hidden_l1_fwd", unit=3)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmviz.adapters import Adapter, eval_copy, load_models_file
from lstmviz.corpus.manifest import MAX_MODULES, MAX_PART_SIZE, validate_manifest
from lstmviz.corpus.record import (
    DTYPES,
    TOKEN_COLUMNS,
    CorpusSpec,
    _manifest,
    column_name,
    load_texts,
    part_identity,
    prepare_output,
    stored_values,
    token_table,
    write_part,
)
from lstmviz.names import make_key, parse_key

__all__ = ["PROBE_TEXTS", "load_adapter", "plan_adapter", "adapter_part_table", "record_adapter_corpus"]

#: Texts (the first ones with a token) run before recording to find the modules that step once per token.
PROBE_TEXTS = 16
_REASON_MAX = 300  # characters of a skipped module's reason (the manifest's limit)


def load_adapter(models: str | os.PathLike) -> tuple[Adapter, str]:
    """The adapter that ``models`` names, ``path/to/models.py:name`` (split on the last ``:``; the name may be left
    out when the file defines one adapter), and the source a manifest names: ``models file <abs path>:<name>``.

    The file is run (:func:`lstmviz.adapters.load_models_file`): pass only a file you chose to run.

    Raises:
        ValueError: the file cannot be read into adapters (:class:`~lstmviz.adapters.ModelsFileError`), or the name
            is not one of its adapters (the message lists them).

    Example:
        >>> load_adapter("/nonexistent/my_models.py:word-lm")
        Traceback (most recent call last):
        lstmviz.adapters.ModelsFileError: models file /nonexistent/my_models.py: not a .py file
    """
    text = os.fspath(models)
    path, name = text, None
    whole = text.endswith(".py") and Path(text).expanduser().is_file()  # a file, even one with ":" in its path
    if not whole:
        head, sep, tail = text.rpartition(":")
        if sep:
            path, name = head, tail or None
    adapters = load_models_file(path)
    names = [a.name for a in adapters]
    allowed = ", ".join(repr(n) for n in names) or "none (MODELS is empty)"
    if name is None:
        if len(adapters) != 1:
            raise ValueError(
                f"--models {text!r}: the file defines {len(adapters)} adapters; name one as "
                f"{path}:<name>; allowed names: {allowed}"
            )
        adapter = adapters[0]
    elif name in names:
        adapter = adapters[names.index(name)]
    else:
        raise ValueError(f"--models {text!r}: no adapter named {name!r}; allowed names: {allowed}")
    return adapter, f"models file {Path(path).expanduser().resolve()}:{adapter.name}"


def _encode(adapter: Adapter, text: str, sentence_id: int) -> Any:
    try:
        return adapter.encode(text)
    except ValueError as e:
        raise ValueError(f"sentence {sentence_id}: {e}") from e


def _run(adapter: Adapter, model: torch.nn.Module, ids: torch.Tensor) -> Any:
    """One text (ids ``(1, T)``) through the adapter, recorded: what :func:`lstmviz.adapters.analyze` records."""
    import lstmviz

    with torch.no_grad(), lstmviz.record(model) as rec:
        if adapter.output == "loss":
            adapter.loss(model, ids)
        else:
            adapter.logits(model, ids)
    return rec


def _probe(adapter: Adapter, model: torch.nn.Module, texts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Module path -> ``{"keys": {(layer, direction, quantity): units}, "off": None | (steps, tokens, sentence)}``
    over the first :data:`PROBE_TEXTS` texts with a token, in the order the model ran them."""
    modules: dict[str, dict[str, Any]] = {}
    probed = 0
    for sid, text in enumerate(texts):
        if probed == PROBE_TEXTS:
            break
        (ids,) = _encode(adapter, text, sid).inputs  # (1, T)
        T = ids.shape[1]
        if T == 0:
            continue
        probed += 1
        rec = _run(adapter, model, ids)
        for key in rec.keys():
            kp = parse_key(key)
            if kp.quantity.startswith("grad_"):
                continue
            x = rec[key]  # (1, steps, U)
            mod = modules.setdefault(kp.module, {"keys": {}, "off": None})
            mod["keys"].setdefault((kp.layer, kp.direction, kp.quantity), int(x.shape[-1]))
            if x.shape[1] != T and mod["off"] is None:
                mod["off"] = (int(x.shape[1]), T, sid)
    if not probed:
        raise ValueError(
            f"adapter {adapter.name!r}: no text of the corpus has a token its tokenizer reads; allowed: "
            "a corpus with at least one such text"
        )
    if not modules:
        raise ValueError(f"adapter {adapter.name!r}: the model ran no recurrent module and tapped nothing")
    return modules


def plan_adapter(
    adapter: Adapter,
    model: torch.nn.Module,
    texts: Sequence[str],
    data_sha256: str,
    source: str,
    quantities: Sequence[str] | None,
    dtype: str,
    part_size: int,
) -> tuple[CorpusSpec, dict[str, dict[str, Any]], dict[str, Any]]:
    """The spec, the value columns and the manifest of an adapter's recording (runs the first texts through the
    model to find the per-token modules; see the module docstring).

    Raises:
        ValueError: a dtype, part size or quantity that is not allowed, no module stepping once per token, two
            modules making one column name, or a manifest its limits refuse (the message names what and why).
    """
    from lstmviz.models import weights_fingerprint

    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is invalid; allowed: {', '.join(DTYPES)}")
    if not isinstance(part_size, int) or isinstance(part_size, bool) or not 1 <= part_size <= MAX_PART_SIZE:
        raise ValueError(f"part_size={part_size!r} is invalid; allowed: an integer 1 .. {MAX_PART_SIZE:,}")
    modules = _probe(adapter, model, texts)
    named = adapter.token_modules
    skipped: dict[str, str] = {}
    for path, mod in modules.items():
        if mod["off"] is not None:
            steps, T, sid = mod["off"]
            skipped[path] = f"steps {steps} times for the {T} tokens of sentence {sid}: not once per token"
        elif named is not None and path not in named:
            skipped[path] = f"not among the adapter's token_modules ({', '.join(named)})"[:_REASON_MAX]
    per_token = [p for p in modules if p not in skipped]
    if not per_token:
        why = "; ".join(f"{p or '<root>'}: {r}" for p, r in skipped.items())
        raise ValueError(
            f"adapter {adapter.name!r}: no recurrent module steps once per token, so nothing can be "
            f"stored per token ({why}); allowed: a module with one step per token"
        )
    if len(per_token) > MAX_MODULES or len(skipped) > MAX_MODULES:
        raise ValueError(
            f"adapter {adapter.name!r}: {len(per_token)} modules to store and {len(skipped)} to skip; "
            f"allowed: at most {MAX_MODULES} of each"
        )
    # in the order the recorder gives them (PyTorch's gate order, then the states), as a checkpoint's recording
    allowed = list(dict.fromkeys(k[2] for p in per_token for k in modules[p]["keys"]))
    qs = tuple(quantities or allowed)
    bad = [q for q in qs if q not in allowed]
    if bad:
        raise ValueError(f"quantities {bad} are not recorded by the stored modules; allowed: {', '.join(allowed)}")
    columns: dict[str, dict[str, Any]] = {}
    for path in per_token:
        keys = sorted((k for k in modules[path]["keys"] if k[2] in qs), key=lambda k: (k[0], k[1], qs.index(k[2])))
        for layer, d, q in keys:
            name = column_name(q, layer, d, module=path if len(per_token) > 1 else None)
            if name in columns:
                raise ValueError(
                    f"adapter {adapter.name!r}: modules {columns[name]['module']!r} and {path!r} make "
                    f"the same column {name}; allowed: module paths that differ after lowercasing and "
                    "making every character other than [a-z0-9_] '_'"
                )
            units = modules[path]["keys"][(layer, d, q)]
            columns[name] = {
                "quantity": q,
                "layer": layer,
                "direction": ("fwd", "rev")[d],
                "units": units,
                "module": path,
            }
    spec = CorpusSpec(source, weights_fingerprint(adapter.model), data_sha256, len(texts), qs, dtype, part_size)
    base = _manifest(spec, columns)
    base.pop("checkpoint")
    manifest = {"schema": base.pop("schema"), "source": source, **base, "skipped_modules": skipped}
    validate_manifest(manifest, f"the recording of {source}")  # the limits every reader applies, checked now
    return spec, columns, manifest


def adapter_part_table(
    adapter: Adapter,
    model: torch.nn.Module,
    texts: Sequence[str],
    first: int,
    spec: CorpusSpec,
    columns: dict[str, dict[str, Any]],
) -> Any:
    """A pyarrow Table with one row per token of ``texts`` (sentence ids from ``first``), each text run alone;
    texts without a token have no rows.

    Raises:
        ValueError: a stored module stepped other than once per token, or recorded another shape (the message
            names the sentence and the module).
    """
    meta_cols: dict[str, list] = {k: [] for k in TOKEN_COLUMNS}
    values: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for i, text in enumerate(texts):
        sid = first + i
        enc = _encode(adapter, text, sid)
        (ids,) = enc.inputs  # (1, T)
        T = ids.shape[1]
        if T == 0:
            continue  # no token the model reads: nothing to record
        rec = _run(adapter, model, ids)
        recorded = set(rec.keys())
        for col, info in columns.items():
            key = make_key(info["module"], info["layer"], ("fwd", "rev").index(info["direction"]), info["quantity"])
            x = rec[key][0] if key in recorded else None  # (steps, U)
            if x is None or tuple(x.shape) != (T, info["units"]):
                got = "nothing" if x is None else f"shape {tuple(x.shape)}"
                raise ValueError(
                    f"sentence {sid}: adapter {adapter.name!r} recorded {got} for {key}; allowed: "
                    f"({T}, {info['units']}), one step per token (a module that steps otherwise is "
                    "left out of the adapter's token_modules)"
                )
            values[col].append(stored_values(col, x.numpy(), spec.dtype))
        meta_cols["sentence_id"] += [sid] * T
        meta_cols["step"] += list(range(T))
        meta_cols["token"] += list(enc.tokens)
        meta_cols["lemma"] += list(enc.tokens)
        meta_cols["start"] += [a for a, _ in enc.spans]
        meta_cols["end"] += [b for _, b in enc.spans]
        meta_cols["unknown"] += [False] * T
    return token_table(meta_cols, values, columns, spec.dtype)


def record_adapter_corpus(
    adapter: Adapter | str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    source: str | None = None,
    quantities: Sequence[str] | None = None,
    dtype: str = "float16",
    part_size: int = 256,
    shard: tuple[int, int] = (0, 1),
    text_column: str = "Sentence",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Records every text of ``data`` through an adapter into the dataset ``out`` (see the module docstring).

    Args:
        adapter: An :class:`~lstmviz.adapters.Adapter`, or ``"my_models.py:name"`` (:func:`load_adapter`: the file
            is run).
        data: The corpus CSV or the OpenSentimentCorpus folder.
        out: The dataset folder (created; reused only for the same recording, whose finished parts are kept).
        source: What the manifest names as the model (default: ``models file <abs path>:<name>`` for a file,
            ``adapter <name>`` for an adapter object); part of the recording's identity.
        quantities: Forward quantities to store (default: every one the stored modules record).
        dtype: ``"float16"`` (default, half the size) or ``"float32"`` (the recorder's exact values).
        part_size: Sentences per part file (the unit of resumption and of sharding).
        shard: ``(i, n)``: record only the parts with ``index % n == i``.
        text_column: The CSV column of the texts.
        progress: Called ``(parts done, parts of this shard)`` after every part.

    Returns:
        The manifest.

    Example:
        >>> m = record_adapter_corpus("my_models.py:seq2seq", "corpus.csv", "/tmp/r")  # doctest: +SKIP
        >>> list(m["columns"])[:2], m["skipped_modules"]  # doctest: +SKIP
        (['reset_l0_fwd', 'update_l0_fwd'], {'decoder': "not among the adapter's token_modules (encoder)"})
    """
    i, n = shard
    if not (isinstance(n, int) and n >= 1 and isinstance(i, int) and 0 <= i < n):
        raise ValueError(f"shard={shard!r} is invalid; allowed: (i, n) with 0 <= i < n")
    if isinstance(adapter, (str, os.PathLike)):
        adapter, named = load_adapter(adapter)
        source = source or named
    if not isinstance(adapter, Adapter):
        raise TypeError(f"adapter must be an lstmviz.adapters.Adapter or 'file.py:name', got {type(adapter).__name__}")
    source = source or f"adapter {adapter.name}"
    model = eval_copy(adapter.model)  # eval mode without flipping the user's model
    texts, sha = load_texts(data, text_column)
    spec, columns, manifest = plan_adapter(adapter, model, texts, sha, source, quantities, dtype, part_size)
    target = prepare_output(out, manifest)
    identity = part_identity(manifest)
    mine = [k for k in range(len(spec.parts())) if k % n == i]
    for done, k in enumerate(mine, 1):
        write_part(
            target,
            k,
            spec,
            identity,
            lambda a, b: adapter_part_table(adapter, model, texts[a:b], a, spec, columns),
        )
        if progress is not None:
            progress(done, len(mine))
    return manifest
