"""Wilton's error tree.

    WiltonError                      base of everything Wilton raises on purpose
    ├── ConfigError                  a setting is invalid; start-up stops with its one-line message
    ├── StateError                   shared state (Redis) could not be read or written
    │   └── StateUnavailable         the store is down; callers fall back to local state (retryable)
    └── RoutingError                 the core could not produce a decision for these candidates

Retryable errors (a sidecar loop or the state store may try again later) derive from
``TemporaryError``; the others are permanent until something is changed by a person.
"""

from __future__ import annotations


class WiltonError(Exception):
    """Base class of every error Wilton raises on purpose."""


class TemporaryError(WiltonError):
    """Marker base: the operation may succeed if tried again later."""


class ConfigError(WiltonError, ValueError):
    """A configuration value is invalid; ``str(err)`` is one line naming key, value and what is valid."""

    def __init__(self, key: str, value: object, valid: str) -> None:
        self.key = key
        self.value = value
        self.valid = valid
        super().__init__(f"Wilton config '{key}' has value {value!r}. {valid}")


class StateError(WiltonError):
    """Shared state could not be read or written."""


class StateUnavailable(StateError, TemporaryError):
    """The shared store is unreachable; local state is used until it returns."""


class RoutingError(WiltonError):
    """The core could not decide for the given candidates (e.g. none are eligible)."""
