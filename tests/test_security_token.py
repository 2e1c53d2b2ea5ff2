"""The token file: generated once with mode 0600, reused, tightened or refused when others can read it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cc_executor.security.token_file import (
    TokenFileError,
    ensure_state_dir,
    ensure_token,
    read_token,
    token_path,
    tokens_equal,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_explicit_token_wins_and_writes_nothing(tmp_path: Path) -> None:
    info = ensure_token(tmp_path / "state", "explicit-token-123")
    assert (info.token, info.path, info.source) == ("explicit-token-123", None, "env")
    assert not (tmp_path / "state").exists()
    assert "explicit-token-123" not in repr(info)


def test_first_start_generates_a_private_token_then_reuses_it(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state"
    first = ensure_token(state, None)
    assert first.source == "generated" and first.path == token_path(state)
    assert len(first.token) >= 40
    assert mode(state) == 0o700
    assert mode(first.path) == 0o600
    assert first.path.read_text() == first.token + "\n"
    assert [p.name for p in state.iterdir()] == ["token"]  # no temporary file left behind
    again = ensure_token(state, None)
    assert (again.token, again.source) == (first.token, "file")
    assert read_token(state) == first.token


def test_generation_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        info = ensure_token(tmp_path / "state", None)
    finally:
        os.umask(old)
    assert info.path is not None and mode(info.path) == 0o600
    assert mode(tmp_path / "state") == 0o700


def test_group_readable_token_file_of_ours_is_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = token_path(tmp_path)
    path.write_text("abcdefgh12345\n")
    path.chmod(0o644)
    info = ensure_token(tmp_path, None)
    assert (info.token, info.source) == ("abcdefgh12345", "file")
    assert mode(path) == 0o600
    assert "readable by others" in caplog.text
    assert "abcdefgh12345" not in caplog.text


def test_token_file_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a file owned by another user")
    path = token_path(tmp_path)
    path.write_text("abcdefgh12345\n")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(TokenFileError, match="belongs to uid 65534"):
        ensure_token(tmp_path, None)


def test_symlinked_or_unusable_token_files_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("abcdefgh12345\n")
    (tmp_path / "state").mkdir()
    token_path(tmp_path / "state").symlink_to(target)
    with pytest.raises(TokenFileError, match="symlink"):
        ensure_token(tmp_path / "state", None)
    bad = tmp_path / "bad"
    bad.mkdir()
    token_path(bad).write_text("  \n")
    token_path(bad).chmod(0o600)
    with pytest.raises(TokenFileError, match="usable token"):
        ensure_token(bad, None)


def test_a_token_written_by_a_racing_server_is_adopted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If another server writes the file between our read and our write, both end up with its token."""
    import cc_executor.security.token_file as token_file

    real_read = token_file._read_checked
    calls = []

    def read_then_race(path: Path) -> str | None:
        calls.append(path)
        if len(calls) == 1:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"their-token-abcdef\n")
            os.close(fd)
            return None
        return real_read(path)

    monkeypatch.setattr(token_file, "_read_checked", read_then_race)
    info = ensure_token(tmp_path, None)
    assert (info.token, info.source) == ("their-token-abcdef", "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]


def test_read_token_for_clients(tmp_path: Path) -> None:
    assert read_token(tmp_path) is None
    token_path(tmp_path).write_text("  tok-123456 \n")
    assert read_token(tmp_path) == "tok-123456"


def test_tokens_equal() -> None:
    assert tokens_equal("abc-123", "abc-123")
    assert not tokens_equal("abc-123", "abc-124")
    assert not tokens_equal("abc", "abc-123")
    assert not tokens_equal(None, "abc")
    assert not tokens_equal("abc", None)
    assert tokens_equal("ünï", "ünï")


def test_state_dir_is_created_private_and_an_existing_one_is_left_alone(tmp_path: Path) -> None:
    ensure_state_dir(tmp_path / "a" / "state")
    assert mode(tmp_path / "a" / "state") == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    ensure_state_dir(shared)
    assert mode(shared) == 0o755
