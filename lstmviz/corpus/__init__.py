"""Corpus explorer: record a whole corpus to Parquet (:mod:`.record`), query it with DuckDB (:mod:`.query`),
scale the recording out on Ray (:mod:`.rayengine`); the command line is ``python -m lstmviz.corpus``.

Example::

    from lstmviz.corpus import record_corpus, CorpusQuery
    record_corpus("checkpoints/sentiment-lstm", "../shared/data/opensentimentcorpus", "/tmp/rec")
    q = CorpusQuery("/tmp/rec")
    q.top_contexts("hidden_l0_fwd", unit=5, k=10)
"""

from lstmviz.corpus.record import SCHEMA, RecordingMismatch, column_name, load_texts, read_manifest, record_corpus

__all__ = ["SCHEMA", "RecordingMismatch", "column_name", "load_texts", "read_manifest", "record_corpus"]
