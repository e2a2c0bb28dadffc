"""Wilton: φ-balanced routing for the LiteLLM proxy.

The package is split into a pure decision core (``wilton_plugin.core``, ``settings``,
``errors``: no LiteLLM, HTTP or metrics imports, enforced by import-linter) and thin glue
(``strategy``, ``proxy``, ``state``) that translates between LiteLLM and the core.
LiteLLM loads the plugin from ``litellm_settings.callbacks: ["wilton_plugin.proxy.handler"]``.
"""

__version__ = "0.1.0"
