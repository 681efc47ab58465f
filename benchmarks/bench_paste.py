"""Server time and figure payload of hostile pastes in the Gates and Gradients views (budgets: 1 s, 1 MB).

Every paste goes through the real app in Streamlit's AppTest (one fresh session each, so nothing is
cached): the text is set in the text area and the page reruns. Server time is the wall time of that
rerun; the payload is the plotly JSON the page sends. The pastes are the attacks of issue 10: 100,000
characters of distinct words (beyond the text area's limit, as a client that ignores it would send),
one 99,999-character token, 200 tokens of ~500 characters, 10,000 newlines, and a normal sentence.

Usage::

    python benchmarks/bench_paste.py [--root checkpoints] [--model sentiment-lstm]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]

TIME_BUDGET_S = 1.0
PAYLOAD_BUDGET = 2**20  # tests/test_hardening.py asserts the same budget
PASTES = {
    "sentence": "Мне очень понравился этот фильм, но конец был слабым",
    "100k_distinct_words": " ".join(f"слово{i}" for i in range(16_666))[:100_000],
    "one_99999_char_token": "ф" * 99_999,
    "200_tokens_of_500_chars": " ".join(["ж" * 500] * 200),
    "10000_newlines": "\n" * 10_000,
}


def run(root: Path, model: str) -> list[tuple[str, str, float, int]]:
    """(paste, view, seconds, payload bytes) for every paste in both views."""
    os.environ["LSTMVIZ_CHECKPOINTS"] = str(root)
    rows = []
    for name, text in PASTES.items():
        for view in ("gates", "gradients"):
            at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120).run()
            at.sidebar.selectbox[0].set_value(str(root / model)).run()
            if view == "gradients":
                at.switch_page("views/gradients.py").run()
            at.text_area[0].set_value(text)
            t0 = time.perf_counter()
            at.run()
            seconds = time.perf_counter() - t0
            if at.exception:
                raise RuntimeError(f"{name} in {view}: {at.exception[0].message}")
            rows.append((name, view, seconds, sum(len(el.proto.spec.encode()) for el in at.get("plotly_chart"))))
    return rows


def main() -> None:
    """Runs every paste and prints one line each, then the verdict against the budgets."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(REPO / "checkpoints"))
    ap.add_argument("--model", default="sentiment-lstm")
    args = ap.parse_args()
    root = Path(args.root)
    if not (root / args.model / "meta.json").is_file():
        import tempfile

        from lstmviz.testing import make_tiny_checkpoints

        root = make_tiny_checkpoints(tempfile.mkdtemp(prefix="lstmviz-bench-"))
        print(f"{args.root} lacks {args.model}: using tiny random checkpoints in {root}")
    rows = run(root, args.model)
    for name, view, seconds, payload in rows:
        print(f"{name:26s} {view:9s} {seconds * 1000:7.0f} ms  {payload / 2**20:6.2f} MB")
    worst_s = max(r[2] for r in rows)
    worst_b = max(r[3] for r in rows)
    print(
        f"worst server time {worst_s:.2f} s (budget {TIME_BUDGET_S:.0f} s): "
        f"{'yes' if worst_s <= TIME_BUDGET_S else 'NO'}"
    )
    print(f"worst payload {worst_b / 2**20:.2f} MB (budget 1 MB): {'yes' if worst_b <= PAYLOAD_BUDGET else 'NO'}")


if __name__ == "__main__":
    main()
