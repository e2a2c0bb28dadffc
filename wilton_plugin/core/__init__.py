"""The pure decision core: balancer, selector, scorer, φ window, statistics.

Nothing here imports LiteLLM, an HTTP client, a web framework, Redis or prometheus_client
(an import-linter contract in pyproject.toml enforces it). Clocks, random sources and state
are passed in; functions return decisions.
"""
