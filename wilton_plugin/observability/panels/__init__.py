"""The panels of the "WiltonOS Quantum Balance" dashboard, one module per dashboard row.

``phi`` (φ against its target), ``usage`` (tokens, frontier spend, plugin errors), ``latency``
and ``routing`` (routing reasons and the coherence sidecar) hold one function per panel, built
from the shared pieces in ``blocks``; ``variables`` holds the template variables. The dashboard
itself is assembled, in panel order, by :mod:`wilton_plugin.observability.dashboard`.
"""
