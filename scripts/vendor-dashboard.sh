#!/usr/bin/env bash
# Fetch the dashboard's third-party browser libraries into src/cc_executor/dashboard/static/vendor/.
#
# Why vendored: the dashboard has no build step for users and makes no third-party network request (its CSP
# allows 'self' only), so the minified files ship inside the Python package. This script is how they got
# there, and how to bump them: change a pinned version and its integrity (from `npm view <pkg>@<v>
# dist.integrity`), run it, and commit the result.
#
# Reproducible: `npm pack` of an exact version, the tarball checked against its pinned sha512 integrity
# (the registry's own), then plain copies of the dist files. Nothing is built; no package is installed.
#
# Usage: scripts/vendor-dashboard.sh            (needs npm, tar, openssl or sha512sum, base64)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/src/cc_executor/dashboard/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# pack NAME VERSION INTEGRITY -> prints the unpacked package directory
pack() {
    local name="$1" version="$2" integrity="$3" tgz dir actual
    (cd "$WORK" && npm pack --silent "$name@$version" >/dev/null)
    tgz="$WORK/$(echo "${name#@}" | tr / -)-$version.tgz"
    actual="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 | tr -d '\n')"
    if [ "$actual" != "$integrity" ]; then
        echo "integrity mismatch for $name@$version: got $actual, pinned $integrity" >&2
        exit 1
    fi
    dir="$WORK/unpacked-$(echo "${name#@}" | tr / -)"
    mkdir -p "$dir"
    tar -xzf "$tgz" -C "$dir"
    echo "$dir/package"
}

# copy_js SRC DEST: an ES module build, minus its sourceMappingURL comment (the maps are not shipped, and a
# dangling reference only makes devtools ask for a file that is not there).
copy_js() {
    grep -v '^//# sourceMappingURL=' "$1" >"$2"
}

# ---- xterm.js (helper A): terminal rendering with ANSI colours, scrollback, search --------------------------
XTERM_VERSION=6.0.0
XTERM_INTEGRITY="sha512-TQwDdQGtwwDt+2cgKDLn0IRaSxYu1tSUjgKarSDkUM0ZNiSRXFpjxEsvc/Zgc5kq5omJ+V0a8/kIM2WD3sMOYg=="
FIT_VERSION=0.11.0
FIT_INTEGRITY="sha512-jYcgT6xtVYhnhgxh3QgYDnnNMYTcf8ElbxxFzX0IZo+vabQqSPAjC3c1wJrKB5E19VwQei89QCiZZP86DCPF7g=="
SEARCH_VERSION=0.16.0
SEARCH_INTEGRITY="sha512-9OeuBFu0/uZJPu+9AHKY6g/w0Czyb/Ut0A5t79I4ULoU4IfU5BEpPFVGQxP4zTTMdfZEYkVIRYbHBX1xWwjeSA=="

xterm_dir="$(pack @xterm/xterm "$XTERM_VERSION" "$XTERM_INTEGRITY")"
fit_dir="$(pack @xterm/addon-fit "$FIT_VERSION" "$FIT_INTEGRITY")"
search_dir="$(pack @xterm/addon-search "$SEARCH_VERSION" "$SEARCH_INTEGRITY")"

rm -rf "$VENDOR/xterm"
mkdir -p "$VENDOR/xterm"
# The .mjs builds are served as .js so that any static file server gives them a JavaScript MIME type
# (module scripts are refused otherwise, and the dashboard sends X-Content-Type-Options: nosniff).
copy_js "$xterm_dir/lib/xterm.mjs" "$VENDOR/xterm/xterm.js"
copy_js "$fit_dir/lib/addon-fit.mjs" "$VENDOR/xterm/addon-fit.js"
copy_js "$search_dir/lib/addon-search.mjs" "$VENDOR/xterm/addon-search.js"
cp "$xterm_dir/css/xterm.css" "$VENDOR/xterm/xterm.css"
cp "$xterm_dir/LICENSE" "$VENDOR/xterm/LICENSE"
cp "$fit_dir/LICENSE" "$VENDOR/xterm/LICENSE.addon-fit"
cp "$search_dir/LICENSE" "$VENDOR/xterm/LICENSE.addon-search"
cat >"$VENDOR/xterm/VERSIONS" <<EOF
@xterm/xterm $XTERM_VERSION $XTERM_INTEGRITY
@xterm/addon-fit $FIT_VERSION $FIT_INTEGRITY
@xterm/addon-search $SEARCH_VERSION $SEARCH_INTEGRITY
EOF
echo "vendored xterm $XTERM_VERSION, addon-fit $FIT_VERSION, addon-search $SEARCH_VERSION into $VENDOR/xterm"

# ---- uPlot (helper B): the charts of the history and health views ------------------------------------------
# A small, fast canvas chart library (MIT, no dependencies). Its package ships an ES module build
# (dist/uPlot.esm.js, not minified: 145 KB), copied as it is so it can be diffed against the tarball.
UPLOT_VERSION=1.6.32
UPLOT_INTEGRITY="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="

uplot_dir="$(pack uplot "$UPLOT_VERSION" "$UPLOT_INTEGRITY")"

rm -rf "$VENDOR/uplot"
mkdir -p "$VENDOR/uplot"
copy_js "$uplot_dir/dist/uPlot.esm.js" "$VENDOR/uplot/uPlot.esm.js"
cp "$uplot_dir/dist/uPlot.min.css" "$VENDOR/uplot/uPlot.min.css"
cp "$uplot_dir/LICENSE" "$VENDOR/uplot/LICENSE"
echo "uplot $UPLOT_VERSION $UPLOT_INTEGRITY" >"$VENDOR/uplot/VERSIONS"
echo "vendored uplot $UPLOT_VERSION into $VENDOR/uplot"
