"""Diagnostics of a recurrent model on a text: why gradients vanish, how gates saturate.

* :func:`state_reach`: the loss-free reach ``||∂h_T/∂s_t||_2`` from the exact step Jacobians (float64);
  :func:`weight_stats`: ``σ_max(W_hh)`` and the spectral radius.
* :func:`pascanu_bound`: the Pascanu et al. 2013 bound and whether it binds (``σ_max < 1``).
* :func:`forget_product_frame`: the LSTM cell path's factor ``Π f_k``.
* :func:`saturation_stats`, :func:`corpus_saturation`: Karpathy et al. 2015 gate saturation.
* :func:`top_units`, :func:`unit_frame`: the most active units, one unit through time.

Functions take a :class:`lstmviz.sentence.TextAnalysis` (or a recording) and never touch a model.

References: Pascanu, Mikolov, Bengio 2013 ("On the difficulty of training recurrent neural
networks"); Karpathy, Johnson, Fei-Fei 2015 ("Visualizing and understanding recurrent networks").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from lstmviz.names import QUANTITIES, direction_name, make_key, parse_key
from lstmviz.recorder import record

__all__ = [
    "SATURATION_QUANTITIES",
    "corpus_saturation",
    "forget_product_frame",
    "pascanu_bound",
    "reach_frame",
    "saturation_stats",
    "state_reach",
    "top_units",
    "unit_frame",
    "UNIT_ORDERS",
    "unit_order",
    "weight_stats",
]

#: Sigmoid gates whose saturation (< 0.1 or > 0.9) is measured (Karpathy et al. 2015).
SATURATION_QUANTITIES = ("input", "forget", "output", "reset", "update")
_LOW, _HIGH = 0.1, 0.9  # saturation thresholds of Karpathy et al. 2015


def weight_stats(rnn: nn.RNNBase, layer: int) -> dict[str, float]:
    """``sigma_max`` (largest singular value) and ``spectral_radius`` of one layer's forward ``W_hh`` (float64).

    For GRU / LSTM ``W_hh`` stacks the gates' blocks: σ_max describes the whole matrix and the
    spectral radius is NaN.

    Example:
        >>> sorted(weight_stats(nn.RNN(2, 3), 0))
        ['sigma_max', 'spectral_radius']
    """
    with torch.no_grad():
        w = getattr(rnn, f"weight_hh_l{layer}").detach().double()  # (G*H, H)
        sigma = float(torch.linalg.matrix_norm(w, ord=2))
        # The spectral radius needs a square matrix: the RNN's W_hh (NaN for the stacked gate blocks).
        rho = float(torch.linalg.eigvals(w).abs().max()) if w.shape[0] == w.shape[1] else float("nan")
    return {"sigma_max": sigma, "spectral_radius": rho}


def _step_jacobians(
    cell: str, nonlinearity: str, w: Mapping[str, torch.Tensor | None], s: torch.Tensor, x: torch.Tensor, H: int
) -> torch.Tensor:
    """``A_k = ∂s_k/∂s_{k-1}`` for k = 1..T-1 in closed form (PyTorch's equations), float64: ``(T-1, S, S)``.

    ``s`` is ``(T, S)`` (``[h, c]`` for the LSTM), ``x`` the layer's inputs ``(T, E)``.
    """

    def lin(v, weight, bias):
        return v @ weight.T + (bias if bias is not None else 0.0)

    prev, xs = s[:-1], x[1:]  # s_{k-1} and x_k, k = 1..T-1
    Whh = w["hh"]  # (G*H, H)
    pre = lin(xs, w["ih"], w["bih"]) + lin(prev[:, :H], Whh, w["bhh"])  # (T-1, G*H)
    if cell == "rnn":
        h = s[1:, :H]
        d = 1 - h**2 if nonlinearity == "tanh" else (h > 0).double()
        return d[:, :, None] * Whh  # diag(φ') W_hh
    if cell == "gru":
        gi, gh = lin(xs, w["ih"], w["bih"]), lin(prev, Whh, w["bhh"])
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = torch.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        Wr, Wz, Wn = Whh[:H], Whh[H : 2 * H], Whh[2 * H :]
        dn = (1 - n**2)[:, :, None] * (r[:, :, None] * Wn + (gh[:, 2 * H :] * r * (1 - r))[:, :, None] * Wr)
        eye = torch.diag_embed(z)
        return eye + (1 - z)[:, :, None] * dn + ((prev - n) * z * (1 - z))[:, :, None] * Wz
    # LSTM, gate order i, f, g, o
    i, f, g, o = (
        pre[:, :H].sigmoid(),
        pre[:, H : 2 * H].sigmoid(),
        pre[:, 2 * H : 3 * H].tanh(),
        pre[:, 3 * H :].sigmoid(),
    )
    c_prev = prev[:, H:]
    c = f * c_prev + i * g
    tc = torch.tanh(c)
    Wi, Wf, Wg, Wo = Whh[:H], Whh[H : 2 * H], Whh[2 * H : 3 * H], Whh[3 * H :]
    dc_dh = (
        (c_prev * f * (1 - f))[:, :, None] * Wf + (g * i * (1 - i))[:, :, None] * Wi + (i * (1 - g**2))[:, :, None] * Wg
    )
    dh_dh = (tc * o * (1 - o))[:, :, None] * Wo + (o * (1 - tc**2))[:, :, None] * dc_dh
    dh_dc = torch.diag_embed(o * (1 - tc**2) * f)
    dc_dc = torch.diag_embed(f)
    return torch.cat((torch.cat((dh_dh, dh_dc), 2), torch.cat((dc_dh, dc_dc), 2)), 1)  # (T-1, 2H, 2H)


def state_reach(model64: nn.Module, rec64: Any, inputs: torch.Tensor, module: str | None = None) -> np.ndarray:
    """Loss-free reach of the top layer (forward): ``||∂h_{T-1}/∂s_t||_2`` for every step t.

    ``s_t`` is the layer's recurrent state (``h_t``; ``(h_t, c_t)`` for the LSTM). The step
    Jacobians ``A_k = ∂s_k/∂s_{k-1}`` are written out in closed form from the layer's own equations
    at the recorded states and inputs, all in float64 (tests check them against autograd through
    ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``); ``∂h_{T-1}/∂s_t = P A_{T-1} ... A_{t+1}`` with
    ``P`` the selector of ``h`` (its spectral norm is 1 at the last step). Unlike ``||dL/dh_t||`` it
    does not depend on the loss or on how sure the model is.

    Args:
        model64: A float64 model (not mutated).
        rec64: A recording of that model on ``inputs`` (batch of one), with ``hidden`` (and ``cell``).
        inputs: ``(T, E)`` float64 inputs of the recurrent module's first layer (the embedded text).
        module: Path of the ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` to measure (as in ``model64.named_modules()``);
            None: the model's only one.

    Returns:
        ``(T,)`` float64, 1 at the last step.

    Raises:
        ValueError: ``module`` is None and the model has several recurrent modules (or none), or ``module``
            names no recurrent module.

    Example:
        >>> state_reach(model64, rec64, emb64[0])[-1]  # doctest: +SKIP
        1.0
    """
    found = {p: m for p, m in model64.named_modules() if isinstance(m, nn.RNNBase)}
    if module is None and len(found) != 1:
        # Taking the first of several would measure a module the caller may not mean (the encoder of a
        # seq2seq model, say) against inputs given for another: the caller names it instead.
        raise ValueError(
            f"state_reach needs module= for a model with {len(found)} recurrent modules; "
            f"allowed: {', '.join(map(repr, found)) or 'none'}"
        )
    if module is not None and module not in found:
        raise ValueError(
            f"module={module!r} is not a recurrent module of the model; "
            f"allowed: {', '.join(map(repr, found)) or 'none'}"
        )
    path, rnn = (module, found[module]) if module is not None else next(iter(found.items()))
    cell = "lstm" if isinstance(rnn, nn.LSTM) else "gru" if isinstance(rnn, nn.GRU) else "rnn"
    L, H = rnn.num_layers, rnn.hidden_size
    top = L - 1
    with torch.no_grad():
        if top == 0:
            x = inputs.double()  # (T, E)
        else:
            dirs = [rec64[make_key(path, top - 1, d, "hidden")][0] for d in range(2 if rnn.bidirectional else 1)]
            x = torch.cat(dirs, dim=-1).double()  # (T, D*H): the lower layer's output
        h = rec64[make_key(path, top, 0, "hidden")][0].double()  # (T, H)
        s = torch.cat((h, rec64[make_key(path, top, 0, "cell")][0].double()), -1) if cell == "lstm" else h  # (T, S)
    T, S = s.shape
    w = {
        k: (getattr(rnn, f"{n}_l{top}").detach().double() if hasattr(rnn, f"{n}_l{top}") else None)
        for k, n in (("ih", "weight_ih"), ("hh", "weight_hh"), ("bih", "bias_ih"), ("bhh", "bias_hh"))
    }
    if T == 1:
        return np.ones(1)
    with torch.no_grad():
        A = _step_jacobians(cell, getattr(rnn, "nonlinearity", "tanh"), w, s, x, H)  # (T-1, S, S)
    M = torch.eye(S, dtype=torch.float64)[:H]  # (H, S): ∂h_{T-1}/∂s_{T-1}
    prods = []
    for t in range(T - 2, -1, -1):
        M = M @ A[t]  # ∂h_{T-1}/∂s_t
        prods.append(M)
    Ms = torch.stack(prods[::-1])  # (T-1, H, S), step order
    # ||M||_2 = scale * sqrt(λ_max((M/scale)(M/scale)^T)): the scale keeps the square from underflowing.
    scale = Ms.abs().amax(dim=(1, 2), keepdim=True)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    G = (Ms / safe) @ (Ms / safe).mT  # (T-1, H, H), symmetric
    sigma = safe[:, 0, 0] * torch.linalg.eigvalsh(G)[:, -1].clamp_min(0).sqrt()
    sigma = torch.where(scale[:, 0, 0] > 0, sigma, torch.zeros_like(sigma))
    return np.concatenate([sigma.numpy(), [1.0]])


def forget_product_frame(analysis: Any, layer: int | None = None, series: str | None = None) -> pd.DataFrame:
    """Forget-gate running product ``Π_{k=t+1..T-1} f_k`` (mean over units) beside ``||dL/dc_t||``.

    Args:
        analysis: An LSTM analysis recorded with grads.
        layer: Layer (default: the top layer); forward direction.
        series: Name for the ``series`` column (default: the cell type).

    Returns:
        Tidy frame ``series, step, token, forget_product, grad_cell``.

    Raises:
        ValueError: for a non-LSTM analysis.

    Example:
        >>> forget_product_frame(a)["forget_product"].iloc[-1]  # doctest: +SKIP
        1.0
    """
    if analysis.cell != "lstm":
        raise ValueError(f"forget_product_frame needs an LSTM analysis, got cell={analysis.cell!r}")
    layer = analysis.num_layers - 1 if layer is None else layer
    f = analysis.values("forget", layer, 0).astype(np.float64)  # (T, U)
    # Reverse cumulative product shifted by one: P_t = f_{t+1} * ... * f_{T-1}, P_{T-1} = 1.
    rev = np.cumprod(f[::-1], axis=0)[::-1]  # (T, U): f_t * ... * f_{T-1}
    prod = np.vstack([rev[1:], np.ones((1, f.shape[1]))])  # (T, U)
    key = analysis.key("grad_cell", layer, 0)
    if analysis.recording64 is not None and key in analysis.recording64.keys():
        gc = torch.linalg.vector_norm(analysis.recording64[key][0], dim=-1).numpy()  # float64
    else:
        gc = np.full(f.shape[0], np.nan)
    return pd.DataFrame(
        {
            "series": series or analysis.cell,
            "step": np.arange(f.shape[0]),
            "token": analysis.tokens,
            "forget_product": prod.mean(axis=1),
            "grad_cell": gc,
        }
    )


def pascanu_bound(analysis: Any, series: str | None = None) -> pd.DataFrame:
    """Pascanu et al. 2013 upper bound on ``||dL/dh_t||`` for a tanh RNN, and whether it constrains anything.

    ``||∂h_T/∂h_t|| <= (σ_max(W_hh) · max|tanh'|)^(T-t) <= σ_max(W_hh)^(T-t)``, so
    ``||dL/dh_t|| <= ||dL/dh_{T-1}|| · σ_max^(T-1-t)`` for the top layer (forward), where the
    loss reaches the recurrence only through the last hidden state. The bound is always true,
    but it only *forces* vanishing when ``σ_max < 1`` (``binding``); with ``σ_max >= 1`` it grows
    with the distance and says nothing about a gradient that falls (the fall then comes from how
    the step Jacobians ``diag(1 - h^2) W_hh`` align, not from their norms), so a chart should
    draw it only where ``binding`` is True.

    Args:
        analysis: An RNN :class:`~lstmviz.sentence.TextAnalysis` recorded with grads (its
            ``weight_stats`` hold σ_max and the spectral radius of the model it was made with).
        series: Name for the ``series`` column (default: the cell type).

    Returns:
        Tidy frame ``series, layer, step, distance, bound, bound_rel, sigma_max, spectral_radius,
        binding`` (``bound_rel`` = ``bound / ||dL/dh_T||``, for normalised curves; from the float64
        recording); empty for GRU/LSTM.

    Example:
        >>> pascanu_bound(a)[["sigma_max", "binding"]].iloc[0].tolist()  # doctest: +SKIP
        [2.81, False]
    """
    cols = ["series", "layer", "step", "distance", "bound", "bound_rel", "sigma_max", "spectral_radius", "binding"]
    if analysis.cell != "rnn" or analysis.recording64 is None or "sigma_max" not in analysis.weight_stats:
        return pd.DataFrame(columns=cols)  # no W_hh statistics: a model whose loss may enter at every step
    layer = analysis.num_layers - 1
    sigma, rho = analysis.weight_stats["sigma_max"], analysis.weight_stats["spectral_radius"]
    g = torch.linalg.vector_norm(analysis.recording64[analysis.key("grad_hidden", layer, 0)][0], dim=-1)
    T = g.shape[0]
    last = float(g[-1])
    distance = T - 1 - np.arange(T)
    with np.errstate(over="ignore"):
        rel = np.power(sigma, distance.astype(float))
    return pd.DataFrame(
        {
            "series": series or analysis.cell,
            "layer": layer,
            "step": np.arange(T),
            "distance": distance,
            "bound": last * rel,
            "bound_rel": rel,
            "sigma_max": sigma,
            "spectral_radius": rho,
            "binding": sigma < 1.0,
        }
    )


def reach_frame(analysis: Any, series: str | None = None) -> pd.DataFrame:
    """The loss-free reach of one analysis as a tidy frame.

    Returns:
        Frame ``series, cell, step, distance, token, reach`` (empty without grads).

    Example:
        >>> reach_frame(a)["reach"].iloc[-1]  # doctest: +SKIP
        1.0
    """
    cols = ["series", "cell", "step", "distance", "token", "reach"]
    if analysis.reach is None:
        return pd.DataFrame(columns=cols)
    T = len(analysis.reach)
    return pd.DataFrame(
        {
            "series": series or analysis.cell,
            "cell": analysis.cell,
            "step": np.arange(T),
            "distance": T - 1 - np.arange(T),
            "token": analysis.tokens,
            "reach": analysis.reach,
        }
    )


def _saturation_counts(recording: Any) -> dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per ``(module, layer, direction, quantity)``: (count < low, count > high, valid steps) per unit, NaN steps
    excluded."""
    out = {}
    for key in recording.keys():
        parts = parse_key(key)
        if parts.quantity not in SATURATION_QUANTITIES:
            continue
        x = recording[key].double()  # (B, T, U)
        valid = ~torch.isnan(x)
        low = ((x < _LOW) & valid).sum((0, 1)).numpy()
        high = ((x > _HIGH) & valid).sum((0, 1)).numpy()
        n = valid.sum((0, 1)).numpy()
        # The module is part of the key: two recurrent modules (an encoder and a decoder, two stacked cells)
        # share layer, direction and quantity, and one must not overwrite the other's counts.
        out[(parts.module, parts.layer, parts.direction, parts.quantity)] = (low, high, n)
    return out


def _saturation_frame(counts: Mapping[tuple, tuple], series: str) -> pd.DataFrame:
    """Turns saturation counts into the tidy frame of :func:`saturation_stats`."""
    rows = []
    for (module, layer, d, q), (low, high, n) in counts.items():
        n_safe = np.maximum(n, 1)
        rows.append(
            pd.DataFrame(
                {
                    "series": series,
                    "module": module,
                    "layer": layer,
                    "direction": direction_name(d),
                    "quantity": q,
                    "unit": np.arange(len(n)),
                    "frac_low": low / n_safe,
                    "frac_high": high / n_safe,
                    "steps": n,
                }
            )
        )
    cols = ["series", "module", "layer", "direction", "quantity", "unit", "frac_low", "frac_high", "steps"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def saturation_stats(recording: Any, series: str = "this sentence") -> pd.DataFrame:
    """Fraction of steps each gate unit spends below 0.1 and above 0.9 (Karpathy et al. 2015).

    Args:
        recording: An lstmviz Recording (any batch; steps past a length are NaN and skipped).
        series: Name for the ``series`` column.

    Returns:
        Tidy frame ``series, module, layer, direction, quantity, unit, frac_low, frac_high, steps``
        (``module``: the recurrent module's path, as in :meth:`Recording.to_frame`; one block of rows
        per module of a model with several); empty for a plain RNN (no gates).

    Example:
        >>> saturation_stats(a.recording).query("quantity == 'forget'").shape[0]  # doctest: +SKIP
        64
    """
    return _saturation_frame(_saturation_counts(recording), series)


def corpus_saturation(
    predictor: Any, texts: Sequence[str], series: str = "corpus sample", batch_size: int = 64
) -> pd.DataFrame:
    """:func:`saturation_stats` pooled over many texts (e.g. a corpus sample).

    Args:
        predictor: The predictor (never mutated).
        texts: The texts; ones without tokens are skipped.
        series: Name for the ``series`` column.
        batch_size: Texts per forward pass.

    Returns:
        Tidy frame as :func:`saturation_stats` (counts pooled per module, layer, direction, gate and unit).

    Example:
        >>> corpus_saturation(predictor, ["хорошо", "плохо"]).columns[0]  # doctest: +SKIP
        'series'
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is invalid; allowed: an integer >= 1")
    encoded = []
    for text in texts:
        if not str(text).strip():
            continue
        ids = predictor.encode(str(text)).ids.reshape(-1)
        if ids.numel():
            encoded.append(ids)
    model = predictor.model
    total: dict[tuple, list[np.ndarray]] = {}
    for i in range(0, len(encoded), batch_size):
        chunk = encoded[i : i + batch_size]
        lengths = torch.tensor([len(x) for x in chunk])
        ids = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)  # (B, T), 0 = <pad>
        for j, x in enumerate(chunk):
            ids[j, : len(x)] = x
        with torch.no_grad(), record(model, grads=False) as rec:
            model(ids, lengths)
        for k, (low, high, n) in _saturation_counts(rec).items():
            if k in total:
                total[k] = [total[k][0] + low, total[k][1] + high, total[k][2] + n]
            else:
                total[k] = [low, high, n]
    return _saturation_frame({k: tuple(v) for k, v in total.items()}, series)


def top_units(analysis: Any, quantity: str, layer: int = 0, direction: int = 0, k: int = 5) -> pd.DataFrame:
    """The most active and the most changing units of one quantity on this text.

    Args:
        analysis: The analysis.
        quantity: E.g. ``"cell"`` or ``"hidden"``.
        layer: Layer index.
        direction: 0 forward, 1 reverse.
        k: Units per ranking.

    Returns:
        Frame ``unit, mean_abs, mean_abs_change, rank_by`` with ``k`` rows per ranking.

    Example:
        >>> top_units(a, "cell", k=3)["rank_by"].unique().tolist()  # doctest: +SKIP
        ['activity', 'change']
    """
    v = analysis.values(quantity, layer, direction)  # (T, U)
    mean_abs = np.nanmean(np.abs(v), axis=0)
    change = np.nanmean(np.abs(np.diff(v, axis=0)), axis=0) if v.shape[0] > 1 else np.zeros(v.shape[1])
    base = pd.DataFrame({"unit": np.arange(v.shape[1]), "mean_abs": mean_abs, "mean_abs_change": change})
    a = base.sort_values("mean_abs", ascending=False).head(k).assign(rank_by="activity")
    c = base.sort_values("mean_abs_change", ascending=False).head(k).assign(rank_by="change")
    return pd.concat([a, c], ignore_index=True)


def unit_frame(analysis: Any, unit: int, layer: int = 0, direction: int = 0) -> pd.DataFrame:
    """Every recorded signal of one unit through time (unit drill-down).

    Args:
        analysis: The analysis.
        unit: Unit index.
        layer: Layer index.
        direction: 0 forward, 1 reverse.

    Returns:
        Tidy frame ``series, step, token, value`` (series = quantity names).

    Example:
        >>> unit_frame(a, 3)["series"].unique().tolist()  # doctest: +SKIP
        ['input', 'forget', 'cell_candidate', 'output', 'cell', 'hidden']
    """
    rows = []
    for q in QUANTITIES[analysis.cell]:
        v = analysis.values(q, layer, direction)
        if not 0 <= unit < v.shape[1]:
            raise ValueError(f"unit={unit!r} is out of range; allowed: 0..{v.shape[1] - 1}")
        rows.append(
            pd.DataFrame({"series": q, "step": np.arange(v.shape[0]), "token": analysis.tokens, "value": v[:, unit]})
        )
    return pd.concat(rows, ignore_index=True)


UNIT_ORDERS = ("index", "activity", "change", "cluster")


def unit_order(values: np.ndarray, how: str = "index") -> np.ndarray:
    """A display order of the units of a ``(T, U)`` recording, so structure shows in a heatmap.

    ``"index"``: 0..U-1; ``"activity"``: by mean ``|x|``, largest first; ``"change"``: by mean
    ``|x_t - x_{t-1}|``, largest first; ``"cluster"``: units that move together side by side (a greedy
    nearest-neighbour chain on the correlation distance ``1 - |corr|``, starting from the most
    active unit; deterministic).

    Example:
        >>> unit_order(np.array([[0.0, 1.0, 0.5]]), "activity").tolist()
        [1, 2, 0]
    """
    if how not in UNIT_ORDERS:
        raise ValueError(f"how={how!r} is invalid; allowed: {', '.join(UNIT_ORDERS)}")
    v = np.nan_to_num(np.asarray(values, dtype=np.float64))  # (T, U)
    U = v.shape[1]
    if how == "index" or U < 2:
        return np.arange(U)
    activity = np.abs(v).mean(axis=0)
    if how == "activity":
        return np.argsort(-activity, kind="stable")
    if how == "change":
        change = np.abs(np.diff(v, axis=0)).mean(axis=0) if v.shape[0] > 1 else np.zeros(U)
        return np.argsort(-change, kind="stable")
    centred = v - v.mean(axis=0)
    norm = np.linalg.norm(centred, axis=0)
    norm[norm == 0] = 1.0
    corr = (centred / norm).T @ (centred / norm)  # (U, U)
    dist = 1.0 - np.abs(corr)
    order = [int(np.argmax(activity))]
    left = set(range(U)) - set(order)
    while left:
        last = order[-1]
        nxt = min(left, key=lambda u: (dist[last, u], u))
        order.append(nxt)
        left.remove(nxt)
    return np.array(order)
