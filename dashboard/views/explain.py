"""How to read this: the equations (PyTorch gate order), then for every page what to look at and one pitfall."""

from __future__ import annotations

import streamlit as st

from dashboard import components as ui
from dashboard.i18n import EN, t

# (page title key of dashboard/app.py's PAGES, paragraph key), in the router's order. A paragraph opens with the
# page's own title, so the text cannot name a page differently from the sidebar; a page whose title key is not in
# the catalogue yet (a page still being added) is left out. tests/test_classroom_wording.py checks that every
# page of PAGES but this one has a paragraph here, in both languages.
READING = (
    ("nav.gates", "explain.read_gates"),
    ("nav.gradients", "explain.read_grads"),
    ("nav.compare", "explain.read_compare"),
    ("nav.generate", "explain.read_generate"),
    ("nav.tagger", "explain.read_tagger"),
    ("nav.corpus", "explain.read_corpus"),
    ("nav.training", "explain.read_training"),
    ("nav.lab", "explain.read_lab"),
    ("nav.lesson", "explain.read_lesson"),
)

LSTM = r"""
\begin{aligned}
i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) && \text{input}\\
f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) && \text{forget}\\
g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) && \text{cell\_candidate}\\
o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) && \text{output}\\
c_t &= f_t \odot c_{t-1} + i_t \odot g_t && \text{cell}\\
h_t &= o_t \odot \tanh(c_t) && \text{hidden}
\end{aligned}
"""
GRU = r"""
\begin{aligned}
r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) && \text{reset}\\
z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) && \text{update}\\
n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) && \text{new}\\
h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1} && \text{hidden}
\end{aligned}
"""
RNN = r"h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})"
GRADS = r"""
\frac{\partial L}{\partial h_t} = \frac{\partial L}{\partial h_T}\prod_{k=t+1}^{T}\frac{\partial h_k}{\partial h_{k-1}},
\qquad \text{RNN: } \frac{\partial h_k}{\partial h_{k-1}} = \mathrm{diag}(1-h_k^2)\,W_{hh}
"""
PASCANU = r"""
\Big\|\frac{\partial L}{\partial h_t}\Big\| \le \Big\|\frac{\partial L}{\partial h_T}\Big\|\,
\sigma_{\max}(W_{hh})^{T-t} \qquad \text{(Pascanu et al., 2013)}
"""
CELL_PATH = (
    r"\text{LSTM: } \frac{\partial c_T}{\partial c_t}\Big|_{\text{direct}} = \prod_{k=t+1}^{T} \mathrm{diag}(f_k)"
)


def render() -> None:
    """Page body."""
    st.header(t("explain.title"))
    st.markdown(t("explain.intro"))
    st.subheader("LSTM")
    st.latex(LSTM)
    st.markdown(t("explain.lstm"))
    st.subheader("GRU")
    st.latex(GRU)
    st.markdown(t("explain.gru"))
    st.subheader("RNN")
    st.latex(RNN)
    st.subheader(t("explain.grads_title"))
    st.latex(GRADS)
    st.latex(PASCANU)
    st.latex(CELL_PATH)
    st.markdown(t("explain.grads"))
    st.subheader(t("explain.read_title"))
    buttons = {"start": t("lesson.start"), "back": t("lesson.back")}  # named by their own labels: no drift
    for page, key in READING:
        if page in EN:
            st.markdown(f"**{t(page)}.** {t(key, **buttons)}")
    st.markdown(t("explain.read_accumulator"))  # the lab's paragraph in depth
    st.subheader(t("explain.example_title"))
    st.markdown(t("explain.example"))


ui.run_view(render)
