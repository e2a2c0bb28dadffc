"""Wilton sidecars: slow outer loops that run next to the proxy (see sidecars/*/README.md)."""
