"""The helpers both sidecars' command lines share, and their secret precedence."""

from __future__ import annotations

import argparse
import io
import logging
import signal

import pytest

from sidecars.common.cli import add_metrics_flags, add_urls, base_url, env, env_flag, port, positive, serve_metrics
from sidecars.common.cli import Redact, redactable, stop_on_signals
from sidecars.common.cli import resolve_secret as _secret
from sidecars.common.redact import exception_line, exception_trace, redact_urls, url_passwords


def test_env_treats_empty_as_unset(monkeypatch):
    monkeypatch.setenv("WILTON_T_EMPTY", "")
    monkeypatch.setenv("WILTON_T_SET", "v")
    assert env("WILTON_T_EMPTY", "d") == "d" and env("WILTON_T_SET", "d") == "v" and env("WILTON_T_NONE") is None
    monkeypatch.setenv("WILTON_T_FLAG", " Yes ")
    assert env_flag("WILTON_T_FLAG") and not env_flag("WILTON_T_NONE")


@pytest.mark.parametrize(("parse", "bad"), [(positive, "0"), (positive, "inf"), (positive, "nan"), (port, "65536"), (port, "-1")])
def test_argparse_types_reject_bad_values(parse, bad):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(bad)


@pytest.mark.parametrize("text", ["http://127.0.0.1:4000", "https://prom.example/prometheus/", "http://[::1]:9090",
                                  "http://proxy", "HTTP://Proxy:80"])
def test_base_url_accepts_http_urls_with_a_host(text):
    assert base_url("WILTON_T_URL")(text) == text


@pytest.mark.parametrize(("text", "problem"), [
    ("http://host:notaport", "Invalid port: 'notaport'"), ("http://host:99999", "port 99999 is not in 1-65535"),
    ("http://host:0", "port 0 is not in 1-65535"), ("localhost:4000", "no http:// or https://"),
    ("ftp://host", "the scheme must be http or https, not 'ftp'"), ("http://", "no host"), ("http:///x", "no host"),
    (" http://host", "it contains white space"), ("http://a b", "it contains white space"), ("", "no http:// or https://"),
])
def test_base_url_refuses_what_httpx_would_fail_on_at_every_request(text, problem):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        base_url("WILTON_T_URL")(text)
    assert str(info.value) == (f"not a usable base URL: {text!r} ({problem}); expected http(s)://HOST[:PORT][/PATH] "
                               "(flag or env WILTON_T_URL)")
    assert base_url("WILTON_T_URL", allow_empty=True)("") == ""


def test_a_bad_url_from_the_environment_is_a_usage_error(monkeypatch, capsys):
    def parser():
        p = argparse.ArgumentParser(prog="t")
        add_urls(p, prometheus_when_empty="nothing", proxy_credentials="--password")
        return p

    monkeypatch.setenv("WILTON_PROXY_URL", "http://host:notaport")
    with pytest.raises(SystemExit) as info:
        parser().parse_args([])
    assert info.value.code == 2
    assert "t: error: argument --proxy-url: not a usable base URL: 'http://host:notaport'" in capsys.readouterr().err
    assert parser().parse_args(["--proxy-url", "http://proxy:4000"]).proxy_url == "http://proxy:4000"  # the flag wins


def test_shared_flags_read_their_environment(monkeypatch):
    monkeypatch.setenv("WILTON_PROXY_URL", "http://p:1")
    monkeypatch.setenv("WILTON_PROMETHEUS_URL", "")
    monkeypatch.setenv("WILTON_T_METRICS_PORT", "1234")
    monkeypatch.delenv("WILTON_T_METRICS_ADDR", raising=False)
    parser = argparse.ArgumentParser()
    add_urls(parser, prometheus_when_empty="nothing", proxy_credentials="--password")
    add_metrics_flags(parser, "WILTON_T", default_port="9999", port_note="; a note")
    args = parser.parse_args([])
    assert (args.proxy_url, args.prometheus_url, args.metrics_port, args.metrics_addr) == (
        "http://p:1", "http://127.0.0.1:9090", 1234, "127.0.0.1")
    assert parser.parse_args(["--prometheus-url", ""]).prometheus_url == ""
    help_text = " ".join(parser.format_help().split())
    assert "empty: nothing (env WILTON_PROMETHEUS_URL; default http://127.0.0.1:9090)" in help_text
    assert "0 disables; a note (env WILTON_T_METRICS_PORT; default 9999)" in help_text


def test_environment_flags_read_alike_in_both_sidecars(monkeypatch):
    from sidecars.coherence.cli import build_parser as coherence_parser
    from sidecars.insight.cli import build_parser as insight_parser

    monkeypatch.setenv("WILTON_COHERENCE_ONCE", " 1")
    monkeypatch.setenv("WILTON_INSIGHT_ONCE", " 1")
    assert coherence_parser().parse_args([]).once and insight_parser().parse_args([]).once


def test_only_secrets_that_are_not_the_published_default_are_redacted():
    assert redactable("wilton", "default") is None
    assert redactable("s3cret-pw", "WILTON_T_SECRET") == "s3cret-pw" and redactable("s3cret-pw", "file /x") == "s3cret-pw"


def test_secret_precedence(monkeypatch, tmp_path):
    secret_file = tmp_path / "s"
    secret_file.write_text("from-file\n", encoding="utf-8")
    monkeypatch.delenv("WILTON_T_SECRET", raising=False)
    monkeypatch.delenv("WILTON_T_SECRET_FILE", raising=False)
    assert _secret(None, None, "WILTON_T_SECRET", "dflt") == ("dflt", "default")
    monkeypatch.setenv("WILTON_T_SECRET", "from-env")
    assert _secret(None, None, "WILTON_T_SECRET", "dflt") == ("from-env", "WILTON_T_SECRET")
    monkeypatch.setenv("WILTON_T_SECRET_FILE", str(secret_file))
    assert _secret(None, None, "WILTON_T_SECRET", "dflt") == ("from-file", f"file {secret_file}")
    assert _secret("flag", None, "WILTON_T_SECRET", "dflt") == ("flag", "command line")


def test_stop_on_signals_sets_the_event():
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stop = stop_on_signals(logging.getLogger("test"))
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set()
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def test_serve_metrics_reports_a_taken_port():
    class Taken:
        def serve(self, port_number, addr):
            raise OSError(98, "Address already in use")

    assert serve_metrics(Taken(), 9999, "127.0.0.1", False, logging.getLogger("test")) == (False, None)
    assert serve_metrics(Taken(), 9999, "127.0.0.1", True, logging.getLogger("test")) == (True, None)
    assert serve_metrics(Taken(), 0, "127.0.0.1", False, logging.getLogger("test")) == (True, None)


# --- URL credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shown"), [
    ("http://user:s3cret@prom:9090", "http://***@prom:9090"),
    ("https://user:s3cret@prom.example:9443/prometheus/", "https://***@prom.example:9443/prometheus/"),
    ("http://token@[::1]:9090/x", "http://***@[::1]:9090/x"),
    ("http://user:p@ss:w@rd@prom:9090", "http://***@prom:9090"),  # an unencoded "@" in the password
    ("http://user:pa/ss@prom:9090", "http://***@prom:9090"),  # an unencoded "/" in the password
    ("http://prom:9090/api?token=s3cret&x&empty=#s3cret", "http://prom:9090/api?token=***&***&empty=***#***"),
    ("HTTP://U:s3cret@H", "HTTP://***@H"),
    ("http://127.0.0.1:4000", "http://127.0.0.1:4000"),
    ("http://prom?", "http://prom?"),
    ("GET http://u:s3cret@a:1/x failed; 'http://u:s3cret@b:2?k=s3cret' too", "GET http://***@a:1/x failed; 'http://***@b:2?k=***' too"),
    ("no URL: user@host, a:b", "no URL: user@host, a:b"),
])
def test_redact_urls_keeps_scheme_host_port_and_path_only(text, shown):
    assert redact_urls(text) == shown


def test_url_passwords_as_written_and_decoded():
    assert url_passwords("http://user:s%33cret@h:1", None, "", "http://h:2", "http://[::1") == ["s%33cret", "s3cret"]


def test_exception_text_is_redacted_in_its_line_and_traceback():
    try:
        raise ValueError("cannot reach http://user:s3cret@prom:9090/api?token=t0ken")
    except ValueError as exc:
        line, trace = exception_line(exc), exception_trace(exc)
    assert line == "ValueError: cannot reach http://***@prom:9090/api?token=***"
    assert trace.startswith("Traceback (most recent call last):") and trace.endswith(line)
    assert "s3cret" not in trace and "t0ken" not in trace


def test_a_bad_url_with_credentials_is_refused_without_them():
    with pytest.raises(argparse.ArgumentTypeError) as info:
        base_url("WILTON_T_URL")("http://user:s3cret@host:notaport")
    assert "s3cret" not in str(info.value)
    assert "not a usable base URL: 'http://***@host:notaport' (Invalid port: 'notaport')" in str(info.value)


@pytest.mark.parametrize("text, shown", [("http://user:pa ss@prom:9090", "http://***@prom:9090"),
                                         ("http://user:s3 cret@prom:9090/x", "http://***@prom:9090/x"),
                                         ("http://us er@prom", "http://***@prom")])
def test_a_url_whose_credentials_hold_white_space_is_refused_without_them(text, shown):
    # In free text a URL ends at white space, so the URL pattern alone left the password's second half
    # (or all of it) in the "contains white space" error.
    with pytest.raises(argparse.ArgumentTypeError) as info:
        base_url("WILTON_T_URL")(text)
    assert str(info.value).startswith(f"not a usable base URL: {shown!r} (it contains white space);")


def test_a_url_with_credentials_is_refused_only_where_they_would_replace_the_bearer_token():
    proxy, prometheus = base_url("WILTON_T_URL", credentials="--password"), base_url("WILTON_T_URL")
    for text in ("http://user:s3cret@host:4000", "http://s3cret@host", "http://:s3cret@host"):
        assert prometheus(text) == text  # basic auth, for a Prometheus behind it
        with pytest.raises(argparse.ArgumentTypeError) as info:
            proxy(text)
        assert "s3cret" not in str(info.value) and "'http://***@host" in str(info.value)
        assert str(info.value).endswith("(flag or env WILTON_T_URL); without credentials, which go in --password")
    assert proxy("http://@host:4000") == "http://@host:4000"  # empty user information: httpx sends no basic auth


def test_the_log_redaction_covers_urls_in_messages_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(Redact(["pw-secret"]))
    log = logging.getLogger("test.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("proxy %s; prometheus %s", "http://admin:s3cret@proxy:4000", "http://p?token=t0ken")
        try:
            raise ConnectionError("http://admin:s3cret@prom:9090 refused the password pw-secret")
        except ConnectionError:
            log.exception("unexpected")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    text = stream.getvalue()
    assert "s3cret" not in text and "t0ken" not in text and "pw-secret" not in text
    assert "WARNING proxy http://***@proxy:4000; prometheus http://p?token=***" in text
    assert "ConnectionError: http://***@prom:9090 refused the password ***" in text
