"""Keeping credentials that ride in URLs out of every log line, error message and report.

A base URL may carry a password (``http://user:password@prom:9090``, which httpx sends as basic auth)
or a token in its query string, and exception texts can repeat the URL they failed on. Everything the
sidecars print goes through :func:`redact_urls` first. Pure: standard library only.
"""

from __future__ import annotations

import re
import traceback
from urllib.parse import unquote, urlsplit

#: a URL inside any text: scheme, user information, host, port and path (up to white space, ``"``, ``<`` or
#: ``>``: a ``'`` may be in a password), then a query and a fragment (which also end at a ``'``)
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)"
    r"(?P<rest>[^?#\s\"<>]*)"
    r"(?P<query>\?[^#\s'\"<>]*)?"
    r"(?P<fragment>#[^\s'\"<>]*)?"
)


def _redact_one(match: re.Match[str]) -> str:
    rest = match.group("rest")
    if "@" in rest:
        # everything up to the last "@" is user information, even when an unencoded "/" in the password
        # makes a parser read part of it as the path: the rare path with an "@" in it is shortened too
        rest = "***@" + rest.rpartition("@")[2]
    query = match.group("query")
    if query is not None and len(query) > 1:
        query = "?" + "&".join(
            f"{name}=***" if sep else "***" for name, sep, _value in (p.partition("=") for p in query[1:].split("&"))
        )
    fragment = "#***" if match.group("fragment") and len(match.group("fragment")) > 1 else match.group("fragment")
    return f"{match.group('scheme')}{rest}{query or ''}{fragment or ''}"


def redact_urls(text: str) -> str:
    """``text`` with every URL's user information shown as ``***@`` and its query values and fragment as ``***``.

    Scheme, host, port and path stay, so ``http://user:pw@prom:9090/x?token=t`` reads
    ``http://***@prom:9090/x?token=***``. Works on a bare URL and on any text holding URLs (an
    exception's message, a traceback); a URL ends at white space or a quote.
    """
    return _URL.sub(_redact_one, text)


def redact_url_value(text: str) -> str:
    """One URL given as a value (a flag, a variable), redacted whole: everything between ``://`` and its
    last ``@`` is user information even when it holds white space, which ends a URL in free text."""
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest:
        text = f"{scheme}://***@{rest.rpartition('@')[2]}"
    return redact_urls(text)


def url_passwords(*urls: str | None) -> list[str]:
    """The passwords the URLs carry (as written and percent-decoded), for the exact-match redaction of
    logs and reports: it also catches a password that :func:`redact_urls` cannot delimit in free text."""
    found: list[str] = []
    for url in urls:
        try:
            password = urlsplit(url or "").password
        except ValueError:  # not a URL urllib can split: redact_urls still applies
            continue
        if password:
            found += [password, unquote(password)]
    return found


def exception_line(exc: BaseException) -> str:
    """``Type: message`` of an exception, URLs redacted: the one line an error log or report gives."""
    return redact_urls(f"{type(exc).__name__}: {exc}")


def exception_trace(exc: BaseException) -> str:
    """The exception's traceback (without the final newline), URLs redacted, for a log line."""
    return redact_urls("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))).rstrip("\n")
