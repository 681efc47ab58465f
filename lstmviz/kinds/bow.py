"""The bag-of-words baseline kind (``model_kind="bow"``): logistic regression on token counts, no word order.

It reads text exactly as the recurrent classifiers do (same vocabulary and pipeline, hence the same
:class:`~lstmviz.pipeline.Predictor`), but has nothing recurrent to record: it opens in the Training view only.

Example:
    >>> from lstmviz.bow import BowConfig
    >>> KIND.shapes(BowConfig(vocab_size=6, num_classes=3))
    {'bag.weight': (6, 3), 'bias': (3,)}
"""

from __future__ import annotations

from typing import Any

from lstmviz.bow import BagOfWordsClassifier, BowConfig
from lstmviz.kinds.base import Recurrent
from lstmviz.kinds.classifier import ClassifierKind

__all__ = ["KIND", "BowKind"]


class BowKind(ClassifierKind):
    """Counts -> linear layer: the baseline without word order (checked and read like a classifier)."""

    name = "bow"
    config_cls = BowConfig
    model_cls = BagOfWordsClassifier

    def shapes(self, config: Any) -> dict[str, tuple[int, ...]]:
        """One weight per (token, class) and a bias per class."""
        return {"bag.weight": (config.vocab_size, config.num_classes), "bias": (config.num_classes,)}

    def recurrent(self, config: Any) -> Recurrent | None:
        """Nothing recurrent to record."""
        return None

    def train_job(self) -> Any:
        """``python -m lstmviz.train bow``: :mod:`lstmviz.cli.classifier`."""
        from lstmviz.cli import classifier as cli
        from lstmviz.cli.common import Job

        help = "kind: the bag-of-words baseline on sentiment or cue_recall"
        return Job(self.name, help, cli.add_bow_arguments, cli.check_bow, cli.run_bow)

    def views(self, config: Any) -> frozenset[str]:
        """Only its training curves: it has no gates, states or gradients through time."""
        return frozenset({"training"})


KIND = BowKind()
