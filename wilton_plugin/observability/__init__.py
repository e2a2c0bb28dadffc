"""Observability as code: the Prometheus rules and the Grafana dashboard, generated from Python."""
