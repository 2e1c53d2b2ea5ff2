"""Origin/Host checks against browser attacks, the no-auth bind policy, and CC_EXECUTOR_ALLOWED_ORIGINS."""

from __future__ import annotations

import pytest

from cc_executor.security.origin import host_allowed, is_loopback, normalize_origin, origin_allowed
from cc_executor.security.settings import SecuritySettings
from cc_executor.server.bind_policy import UnsafeBindError, check_auth_bind


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "app.localhost",
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
    ],
)
def test_loopback_names(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.1", "example.com", "localhost.example.com", "", "[::2]"]
)
def test_non_loopback_names(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    "header",
    [None, "localhost", "localhost:8003", "127.0.0.1:8003", "127.9.9.9", "[::1]", "[::1]:8003", "x.localhost:1"],
)
def test_loopback_bind_accepts_loopback_host_headers(header: str | None) -> None:
    assert host_allowed(header, "127.0.0.1")
    assert host_allowed(header, "localhost")
    assert host_allowed(header, "::1")


@pytest.mark.parametrize(
    "header",
    [
        "evil.example",
        "evil.example:8003",
        "localhost.evil.example",
        "192.168.1.2:8003",
        "[::2]:8003",
        "localhost:80x",
        "[::1]x",
        "[::1",
        ":8003",
        "",
        "127.0.0.1:8003:1",
    ],
)
def test_loopback_bind_refuses_rebinding_host_headers(header: str) -> None:
    assert not host_allowed(header, "127.0.0.1")


def test_non_loopback_bind_accepts_any_host() -> None:
    assert host_allowed("evil.example", "0.0.0.0")
    assert host_allowed("build-box.lan:8003", "192.168.1.10")


def test_origin_absent_is_a_non_browser_client() -> None:
    assert origin_allowed(None, [])


def test_origins_are_refused_by_default() -> None:
    assert not origin_allowed("http://localhost:3000", [])
    assert not origin_allowed("null", [])


def test_origin_matching() -> None:
    allowed = ["http://localhost:3000", "https://Tools.Example.com"]
    assert origin_allowed("http://localhost:3000", allowed)
    assert origin_allowed("HTTP://LOCALHOST:3000", allowed)
    assert origin_allowed("https://tools.example.com", allowed)
    assert origin_allowed("https://tools.example.com:443", allowed)
    assert not origin_allowed("http://localhost:3001", allowed)
    assert not origin_allowed("https://localhost:3000", allowed)
    assert not origin_allowed("https://tools.example.com.evil.io", allowed)
    assert not origin_allowed("https://evil.io/https://tools.example.com", allowed)
    assert not origin_allowed("null", allowed)
    assert origin_allowed("https://anything.io", ["*"])
    assert origin_allowed("http://[::1]:8080", ["http://[::1]:8080"])


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("http://a.io", "http://a.io"),
        ("http://a.io:80/", "http://a.io"),
        ("WSS://A.io:8443", "wss://a.io:8443"),
        ("null", None),
        ("http://u@a.io", None),
        ("http://a.io/path", None),
        ("http://a.io:99999", None),
        ("a.io", None),
    ],
)
def test_normalize_origin(raw: str, normal: str | None) -> None:
    assert normalize_origin(raw) == normal


def test_auth_bind_policy() -> None:
    assert check_auth_bind("0.0.0.0", auth_enabled=True) is None
    assert check_auth_bind("127.0.0.1", auth_enabled=True) is None
    warning = check_auth_bind("127.0.0.1", auth_enabled=False)
    assert warning is not None and "OFF" in warning
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com"):
        with pytest.raises(UnsafeBindError, match="refusing to start"):
            check_auth_bind(host, auth_enabled=False)


def test_allowed_origins_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_ALLOWED_ORIGINS", "http://localhost:3000, https://a.io ,")
    assert SecuritySettings().allowed_origins == ["http://localhost:3000", "https://a.io"]
    monkeypatch.setenv("CC_EXECUTOR_ALLOWED_ORIGINS", "localhost:3000")
    with pytest.raises(ValueError, match="scheme://host"):
        SecuritySettings()
    monkeypatch.delenv("CC_EXECUTOR_ALLOWED_ORIGINS")
    assert SecuritySettings().allowed_origins == []
