"""What both sidecars' own metrics share: a registry of their own and the /metrics server on it."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server


class SidecarMetrics:
    """A sidecar's metrics registry (a new one unless ``registry`` is given) and its /metrics server."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()

    def serve(self, port: int, addr: str) -> WSGIServer:
        """Start the /metrics HTTP server; returns the server (call ``shutdown()`` to stop)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server
