#!/usr/bin/env bash
# CI: the VS Code extension's tests and its .vsix (editors/vscode/test.sh).
# Needs Node 20+ and npm with the npm registry reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo ".ci/editors.sh: $tool is not installed (Node 20+ and npm are needed)" >&2
        exit 1
    fi
done
exec editors/vscode/test.sh
