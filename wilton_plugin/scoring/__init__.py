"""The learned difficulty scorer: topic-agnostic prompt features, linear models per family, training.

Pure like ``wilton_plugin.core`` (the same import-linter contract covers it): no LiteLLM, HTTP,
Redis or metrics. Inference needs only the standard library; training (``train.py``) needs numpy.

    features.py   prompt text -> structural feature vector (multiple-choice and open prompts)
    wordproblem.py  prompt text -> word-problem feature vector (free-form prompts with quantities)
    tasks.py      the task prior: expected gain of open prompts (code, maths, writing...) by task
    data.py       labelled CSVs (prompt, local, frontier) -> rows; DataError on bad input
    model.py      prompt families, the artifact (JSON) and ``LearnedScorer``
    train.py      ridge regression of the frontier's gain, one model per family
"""
