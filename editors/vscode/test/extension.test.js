#!/usr/bin/env node
// extension.js against stand-ins for `vscode` and `vscode-languageclient/node`:
// what it asks the client library to start, with which options, and what the
// restart command and a missing binary do. (The real editor is not needed.)
'use strict';

const assert = require('assert');
const Module = require('module');
const os = require('os');
const path = require('path');

// ------------------------------------------------------------------ stand-ins
const settings = new Map(); // 'resc.server.path' -> value
const commands = new Map();
const configListeners = [];
const errors = [];
const clients = [];
let failStart = false;

const vscode = {
  workspace: {
    getConfiguration(section) {
      return {
        get(key, fallback) {
          const full = `${section}.${key}`;
          return settings.has(full) ? settings.get(full) : fallback;
        },
      };
    },
    onDidChangeConfiguration(listener) {
      configListeners.push(listener);
      return { dispose() {} };
    },
  },
  window: {
    createOutputChannel(name, options) {
      assert.deepStrictEqual(options, { log: true }, 'the client library wants a log output channel');
      const lines = [];
      const log = (level) => (msg) => lines.push(`${level}: ${msg}`);
      return { name, lines, info: log('info'), warn: log('warn'), error: log('error'), show() {}, dispose() {} };
    },
    async showErrorMessage(message, ...actions) {
      errors.push({ message, actions });
      return undefined;
    },
  },
  commands: {
    registerCommand(id, fn) {
      commands.set(id, fn);
      return { dispose() {} };
    },
    async executeCommand() {},
  },
};

class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    Object.assign(this, { id, name, serverOptions, clientOptions, started: false, disposed: false });
    clients.push(this);
  }
  async start() {
    if (failStart) throw new Error(`Launching server using command ${this.serverOptions.run.command} failed.`);
    this.started = true;
  }
  async dispose() {
    this.disposed = true;
  }
}

const originalLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  if (request === 'vscode') return vscode;
  if (request === 'vscode-languageclient/node') return { LanguageClient };
  return originalLoad.call(this, request, parent, isMain);
};

const extension = require(path.join(__dirname, '..', 'extension.js'));

// ---------------------------------------------------------------------- tests
function context() {
  return { subscriptions: [] };
}

async function main() {
  const manifest = require(path.join(__dirname, '..', 'package.json'));
  const declared = manifest.contributes.commands.map((c) => c.command);
  const props = manifest.contributes.configuration.properties;
  assert.deepStrictEqual(declared, ['resc.restartServer']);
  assert.strictEqual(props['resc.server.path'].default, 'resc');
  assert.strictEqual(props['resc.inlayHints.enable'].default, true);
  assert.strictEqual(manifest.contributes.languages[0].id, 'resc');

  // Defaults: `resc lsp` from PATH, inlay hints on.
  const ctx = context();
  await extension.activate(ctx);
  assert.ok(commands.has('resc.restartServer'), 'resc.restartServer is registered');
  assert.strictEqual(clients.length, 1);
  const first = clients[0];
  assert.ok(first.started);
  assert.strictEqual(first.id, 'resc');
  for (const mode of ['run', 'debug']) {
    assert.strictEqual(first.serverOptions[mode].command, 'resc');
    assert.deepStrictEqual(first.serverOptions[mode].args, ['lsp']);
    assert.strictEqual(first.serverOptions[mode].transport, undefined, 'no transport: it would add --stdio');
  }
  assert.deepStrictEqual(first.clientOptions.documentSelector, [{ scheme: 'file', language: 'resc' }]);
  assert.deepStrictEqual(first.clientOptions.initializationOptions, { inlayHints: true });
  assert.deepStrictEqual(first.clientOptions.synchronize, { configurationSection: 'resc' });
  assert.ok(first.clientOptions.outputChannel, 'one output channel shared across restarts');

  // The settings reach the next server: restart through the command.
  settings.set('resc.server.path', '~/bin/resc');
  settings.set('resc.inlayHints.enable', false);
  await commands.get('resc.restartServer')();
  assert.strictEqual(clients.length, 2);
  assert.ok(first.disposed, 'the old client is disposed before the new one starts');
  const second = clients[1];
  assert.ok(second.started);
  assert.strictEqual(second.serverOptions.run.command, path.join(os.homedir(), 'bin', 'resc'));
  assert.deepStrictEqual(second.clientOptions.initializationOptions, { inlayHints: false });

  // Changing the binary restarts by itself; changing only the hints does not.
  settings.set('resc.server.path', '/opt/resc/bin/resc');
  const affects = (changed) => ({ affectsConfiguration: (s) => changed.startsWith(s) || s.startsWith(changed) });
  for (const l of configListeners) l(affects('resc.inlayHints.enable'));
  await new Promise((r) => setImmediate(r));
  assert.strictEqual(clients.length, 2, 'an inlay-hint change goes to the running server');
  for (const l of configListeners) l(affects('resc.server.path'));
  await new Promise((r) => setTimeout(r, 10));
  assert.strictEqual(clients.length, 3);
  assert.strictEqual(clients[2].serverOptions.run.command, '/opt/resc/bin/resc');

  // A binary that is not there: an error naming the setting, no exception.
  failStart = true;
  settings.set('resc.server.path', '/nonexistent/resc');
  await commands.get('resc.restartServer')();
  assert.strictEqual(errors.length, 1);
  assert.match(errors[0].message, /\/nonexistent\/resc lsp/);
  assert.match(errors[0].message, /resc\.server\.path/);
  assert.deepStrictEqual(errors[0].actions, ['Open Settings', 'Show Log']);

  await extension.deactivate();
  assert.ok(clients[3].disposed);
  console.log('extension: activate, options, restart, settings and a missing binary behave');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
