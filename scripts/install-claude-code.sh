#!/usr/bin/env bash
# Install the pinned Claude Code CLI into .tools/claude-code/ (project-local, never global) for the real-CLI
# tests (tests/claude_cli.py finds it there). Idempotent: a no-op when that version is already installed.
# The npm package's native binary comes as an optionalDependency (@anthropic-ai/claude-code-<platform>); its
# postinstall copies it over bin/claude.exe, so `claude` execs the native binary with no Node process resident.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${CLAUDE_CODE_VERSION:-2.1.332}"
DIR="${CLAUDE_CODE_DIR:-.tools/claude-code}"
BIN="$DIR/node_modules/.bin/claude"

if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null | cut -d' ' -f1)" = "$VERSION" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "install-claude-code: npm is not installed" >&2; exit 1; }
mkdir -p "$DIR"
# The package declares engines.node >=22; the native binary does not run on Node, so an older npm/node
# installs it fine (npm only warns).
npm install --prefix "$DIR" --no-audit --no-fund --no-save --loglevel=error "@anthropic-ai/claude-code@$VERSION" >&2
got="$("$BIN" --version 2>/dev/null | cut -d' ' -f1 || true)"
if [ "$got" != "$VERSION" ]; then
  # The postinstall did not run (scripts disabled, or a Node too old for it): do its one job, putting the
  # platform's native binary in place of the bin/claude.exe stub.
  for native in "$DIR"/node_modules/@anthropic-ai/claude-code-*/claude; do
    if [ -x "$native" ] && [ "$("$native" --version 2>/dev/null | cut -d' ' -f1)" = "$VERSION" ]; then
      stub="$DIR/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
      ln -f "$native" "$stub" 2>/dev/null || cp -f "$native" "$stub"
      chmod +x "$stub"
      break
    fi
  done
  got="$("$BIN" --version 2>/dev/null | cut -d' ' -f1 || true)"
fi
if [ "$got" != "$VERSION" ]; then
  echo "install-claude-code: $BIN reports '${got:-nothing}', expected $VERSION" >&2
  exit 1
fi
echo "install-claude-code: Claude Code $VERSION in $DIR" >&2
