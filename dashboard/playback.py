"""Token-by-token playback for the Gates view: a step slider and a Play button.

At step t the section shows the prediction after the prefix ``tokens[:t+1]`` and the heatmaps of the
memory (c_t for the LSTM), the hidden state h_t and the forget / update gate up to token t; later
tokens are blank, and the colour scale is the whole text's at every step (a colour keeps its meaning). The
heatmaps are built only once Play or the slider has been touched (a page that nobody plays back sends none).
For a forward layer these are exactly the values of the model run on the prefix alone (a recurrence never
looks ahead); a reverse direction has seen the whole text, which the hint says. Play advances one token per
tick inside a fragment, so only this section reruns.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import components as ui
from dashboard import state
from dashboard.i18n import t
from lstmviz import plots
from lstmviz.sentence import TextAnalysis

TICK_SECONDS = 0.8  # one token per tick while playing
_SHOWN = {"lstm": ("forget", "cell", "hidden"), "gru": ("update", "hidden"), "rnn": ("hidden",)}


def prefix_frame(a: TextAnalysis, quantity: str, layer: int, direction: int, step: int):
    """The tidy frame of one quantity with every token after ``step`` blanked (NaN)."""
    frame = a.activation_frame(quantity, layer, direction)
    frame.loc[frame["step"] > step, "value"] = np.nan
    return frame


def _touch() -> None:
    """Slider callback: the playback heatmaps are drawn from the first touch on."""
    st.session_state[state.PLAY_TOUCHED] = True


def section(a: TextAnalysis, name: str, layer: int, direction: int, order) -> None:
    """The playback section (a fragment: the slider and Play rerun only it)."""
    T = len(a.tokens)
    if T < 2:
        return
    st.subheader(t("play.title"))
    st.caption(t("play.caption") + (" " + t("play.reverse") if direction == 1 else ""))

    @st.fragment(run_every=TICK_SECONDS if st.session_state.get(state.PLAY_RUNNING) else None)
    def body() -> None:
        key = state.PLAY_STEP
        c1, c2 = st.columns([1, 4])
        playing = st.session_state.get(state.PLAY_RUNNING, False)
        if c1.button(t("play.pause") if playing else t("play.play"), key=state.PLAY_BUTTON):
            if not playing and int(st.session_state.get(key, 0)) >= T - 1:
                st.session_state[key] = 0
            st.session_state[state.PLAY_RUNNING] = not playing
            st.session_state[state.PLAY_TOUCHED] = True
            st.rerun()  # a full rerun: the fragment's tick (run_every) is set when the page runs
        if playing:  # a tick; never on the Pause click's rerun, which would stop one token past what was shown
            nxt = min(int(st.session_state.get(key, 0)) + 1, T - 1)
            st.session_state[key] = nxt
            if nxt >= T - 1:
                st.session_state[state.PLAY_RUNNING] = False
                st.rerun()  # a full rerun ends the fragment's tick; the last token is drawn by it
        if int(st.session_state.get(key, 0)) > T - 1:
            st.session_state[key] = T - 1
        step = int(c2.slider(t("play.step"), 0, T - 1, key=key, on_change=_touch))
        if a.extra.get("output", "classify") == "classify" and len(a.probs) == T:  # a class after each prefix
            probs = a.probs[step]  # (C,): after tokens[:step+1]
            best = int(np.argmax(probs))
            title = t("play.prediction", token=ui.md_escape(plots.shorten(a.tokens[step]) or "·"), step=step)
            ui.show_prediction(title, a.labels[best], float(probs[best]))
        if not st.session_state.get(state.PLAY_TOUCHED):
            st.caption(t("play.untouched"))  # three heatmaps per rerun only for someone who plays
            return
        lbl = ui.plot_labels()
        for q in (q for q in _SHOWN[a.cell] if a.key(q, layer, direction) in a.recording):  # taps: some only
            frame = prefix_frame(a, q, layer, direction, step)
            title = t("play.fig_title", name=name, q=t(f"q.{q}"), step=step)
            # The whole text's colour range at every step: scaled to the prefix, c's colours changed meaning as
            # it played (±1 at token 1, ±25 at token 61 of a cue sequence).
            fig = plots.gate_heatmap(
                frame,
                a.tokens,
                q,
                title=title,
                unknown=a.unknown,
                labels=lbl,
                order=order,
                range_values=a.values(q, layer, direction),  # (T, units): every token, not only the prefix
            )
            ui.show_figure(fig, frame, f"play_{q}_{name}_t{step}", f"play_{q}")

    body()
