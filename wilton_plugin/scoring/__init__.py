"""The learned difficulty scorer: topic-agnostic prompt features, a linear model, its training.

Pure like ``wilton_plugin.core`` (the same import-linter contract covers it): no LiteLLM, HTTP,
Redis or metrics. Inference needs only the standard library; training (``train.py``) needs numpy.

    features.py   prompt text -> structural feature vector
    data.py       labelled CSVs (prompt, local, frontier) -> rows; DataError on bad input
    model.py      the artifact (JSON) and ``LearnedScorer``
    train.py      ridge regression of the frontier's gain on the features
"""
