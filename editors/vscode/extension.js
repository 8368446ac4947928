// The resc extension: starts `resc lsp` over stdio for `.res` files.
// Plain JavaScript (no build step); the client library is vscode-languageclient.
'use strict';

const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;
/** @type {vscode.LogOutputChannel | undefined} */
let output;

/** The configured `resc` binary: `resc.server.path`, `~` expanded; a bare name is looked up on PATH. */
function serverPath() {
  const configured = vscode.workspace.getConfiguration('resc').get('server.path', 'resc');
  const value = typeof configured === 'string' && configured.trim() !== '' ? configured.trim() : 'resc';
  if (value === '~' || value.startsWith('~/')) {
    return path.join(os.homedir(), value.slice(1));
  }
  return value;
}

function inlayHintsEnabled() {
  return vscode.workspace.getConfiguration('resc').get('inlayHints.enable', true) !== false;
}

function createClient() {
  const command = serverPath();
  // No `transport`: the client would append `--stdio` to the arguments. The
  // process's stdin and stdout carry the protocol all the same.
  const serverOptions = {
    run: { command, args: ['lsp'] },
    debug: { command, args: ['lsp'], options: { env: { ...process.env, RUST_BACKTRACE: '1' } } },
  };
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'resc' }],
    // Read by the server at `initialize`; later changes arrive as
    // workspace/didChangeConfiguration with `{ settings: { resc: { .. } } }`.
    initializationOptions: { inlayHints: inlayHintsEnabled() },
    synchronize: { configurationSection: 'resc' },
    outputChannel: output,
  };
  return new LanguageClient('resc', 'resc language server', serverOptions, clientOptions);
}

async function startClient() {
  const next = createClient();
  client = next;
  try {
    await next.start();
  } catch (err) {
    const command = serverPath();
    const reason = err && err.message ? err.message : String(err);
    output?.error(`could not start \`${command} lsp\`: ${reason}`);
    const choice = await vscode.window.showErrorMessage(
      `resc: could not start the language server \`${command} lsp\`. ` +
        'Put `resc` on PATH or set `resc.server.path`.',
      'Open Settings',
      'Show Log',
    );
    if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'resc.server.path');
    } else if (choice === 'Show Log') {
      output?.show();
    }
  }
}

async function stopClient() {
  const current = client;
  client = undefined;
  if (current === undefined) {
    return;
  }
  try {
    // dispose() stops a running server and is a no-op for one that never started.
    await current.dispose();
  } catch (err) {
    output?.warn(`stopping the language server: ${err && err.message ? err.message : String(err)}`);
  }
}

async function restartClient() {
  await stopClient();
  await startClient();
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  output = vscode.window.createOutputChannel('resc', { log: true });
  context.subscriptions.push(output);
  context.subscriptions.push(vscode.commands.registerCommand('resc.restartServer', restartClient));
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      // A new binary needs a new process; the inlay-hint setting travels to the
      // running server through workspace/didChangeConfiguration instead.
      if (event.affectsConfiguration('resc.server.path')) {
        void restartClient();
      }
    }),
  );
  await startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate };
