"""What both sidecars share: ``cli`` (flags, environment, secrets, logging, signals, the metrics
server's start and stop), ``http`` (the errors their loops back off from, reading a Prometheus
answer), ``metrics`` (their own registry and /metrics server), ``backoff`` and ``numbers`` (pure
helpers) and ``redact`` (URL credentials out of logs, errors and reports)."""
