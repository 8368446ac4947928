#!/usr/bin/env bash
# Runs Neovim headless as a client of `resc lsp` (editors/neovim/lsp_test.lua).
# Usage: .ci/nvim-lsp.sh [path/to/resc]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/debug/resc}")"
log="$(mktemp)"
if RESC="$bin" RESC_ROOT="$PWD" timeout 120 nvim --headless -u NONE -i NONE -n \
    +"luafile editors/neovim/lsp_test.lua" >"$log" 2>&1; then
    cat "$log"
    echo "neovim lsp test: passed"
else
    cat "$log"
    echo "neovim lsp test: FAILED"
    exit 1
fi
