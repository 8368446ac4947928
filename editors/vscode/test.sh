#!/usr/bin/env bash
# Tests the VS Code extension and packages it: npm ci, the grammar tests, the
# keyword check against grammar/res.pest, the client against stand-ins, then a
# .vsix in dist/ whose contents are listed and checked.
# Needs Node 20+ and npm with the npm registry reachable.
set -euo pipefail
cd "$(dirname "$0")"

# A hung tool fails the run instead of stalling it.
limit() {
    if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi
}
step() { printf '\n== %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "test.sh: Node 20 or newer is needed (found $(node --version))" >&2
    exit 1
fi
echo "node $(node --version), npm $(npm --version)"

step "npm ci"
# --ignore-scripts: nothing here needs an install script, and vsce's optional
# keytar (only for publishing) would try a native build.
limit 300 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

step "JSON files parse"
for f in package.json package-lock.json language-configuration.json syntaxes/resc.tmLanguage.json; do
    node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$f"
    echo "ok  $f"
done

step "JavaScript parses"
for f in extension.js test/*.js; do
    node --check "$f"
    echo "ok  $f"
done

step "grammar tests (vscode-tmgrammar-test)"
shopt -s nullglob
cases=(test/grammar/*.res)
if [ "${#cases[@]}" -eq 0 ]; then
    echo "test.sh: no grammar tests in test/grammar/" >&2
    exit 1
fi
limit 120 node_modules/.bin/vscode-tmgrammar-test --config package.json 'test/grammar/*.res'

step "every keyword of grammar/res.pest is highlighted"
node test/keywords.js

step "the client (extension.js) against stand-ins for vscode"
node test/extension.test.js

step "package the .vsix"
version=$(node -p 'require("./package.json").version')
vsix="dist/resc-$version.vsix"
rm -rf dist
mkdir -p dist
limit 120 node_modules/.bin/vsce package --allow-missing-repository --out "$vsix" </dev/null
node test/vsix.js "$vsix"

printf '\ntest.sh: all passed; %s\n' "$vsix"
