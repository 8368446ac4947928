#!/usr/bin/env node
// Checks a packaged .vsix: lists it, asserts what must and must not be in it,
// unpacks it and loads the packaged extension.js against a stand-in `vscode`
// module, making sure every module it loads comes from inside the package
// (so vscode-languageclient and all its dependencies are really bundled).
// usage: node test/vsix.js FILE.vsix
'use strict';

const assert = require('assert');
const fs = require('fs');
const Module = require('module');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

/** The entries of a zip file (no zip64: a .vsix is small): name -> Buffer. */
function readZip(file) {
  const buf = fs.readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  assert.ok(eocd >= 0, `${file}: not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const entries = new Map();
  for (let n = 0; n < count; n++) {
    assert.strictEqual(buf.readUInt32LE(at), 0x02014b50, 'central directory entry');
    const method = buf.readUInt16LE(at + 10);
    const compressed = buf.readUInt32LE(at + 20);
    const size = buf.readUInt32LE(at + 24);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    at += 46 + nameLen + extraLen + commentLen;

    assert.strictEqual(buf.readUInt32LE(local), 0x04034b50, `local header of ${name}`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + compressed);
    let data;
    if (method === 0) data = Buffer.from(raw);
    else if (method === 8) data = zlib.inflateRawSync(raw);
    else throw new Error(`${name}: compression method ${method}`);
    assert.strictEqual(data.length, size, `size of ${name}`);
    entries.set(name, data);
  }
  return entries;
}

function main() {
  const vsix = process.argv[2];
  assert.ok(vsix, 'usage: node test/vsix.js FILE.vsix');
  const entries = readZip(vsix);
  const names = [...entries.keys()].sort();

  // The listing, folded below node_modules/<package>/.
  const folded = new Map();
  for (const name of names) {
    const m = /^(extension\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(name);
    const key = m ? `${m[1]}/` : name;
    const [files, bytes] = folded.get(key) || [0, 0];
    folded.set(key, [files + 1, bytes + entries.get(name).length]);
  }
  console.log(`${vsix}: ${fs.statSync(vsix).size} bytes, ${names.length} files`);
  for (const [key, [files, bytes]] of folded) {
    console.log(`  ${key}${files > 1 ? ` (${files} files)` : ''}  ${bytes} bytes`);
  }

  const required = [
    'extension/package.json',
    'extension/extension.js',
    'extension/language-configuration.json',
    'extension/syntaxes/resc.tmLanguage.json',
    'extension/readme.md', // vsce lower-cases it
    'extension/LICENSE.txt',
    'extension/node_modules/vscode-languageclient/package.json',
    'extension/node_modules/vscode-languageclient/lib/node/main.js',
  ];
  for (const name of required) assert.ok(entries.has(name), `the .vsix lacks ${name}`);

  const forbidden = [
    /^extension\/test\//,
    /^extension\/dist\//,
    /\.vsix$/,
    /^extension\/test\.sh$/,
    /^extension\/node_modules\/\.bin\//,
    /^extension\/node_modules\/@vscode\/vsce/,
    /^extension\/node_modules\/vscode-tmgrammar-test\//,
    /^extension\/node_modules\/vscode-textmate\//,
    /^extension\/node_modules\/vscode-oniguruma\//,
  ];
  for (const name of names) {
    for (const pattern of forbidden) assert.ok(!pattern.test(name), `the .vsix should not contain ${name}`);
  }

  const manifest = JSON.parse(entries.get('extension/package.json'));
  assert.strictEqual(manifest.main, './extension.js');
  assert.strictEqual(manifest.contributes.languages[0].id, 'resc');
  assert.strictEqual(manifest.contributes.grammars[0].scopeName, 'source.resc');
  JSON.parse(entries.get('extension/syntaxes/resc.tmLanguage.json'));
  JSON.parse(entries.get('extension/language-configuration.json'));

  // Unpack and load the packaged extension on its own.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resc-vsix-'));
  try {
    for (const [name, data] of entries) {
      if (name.endsWith('/')) continue;
      const target = path.join(dir, name);
      assert.ok(target.startsWith(dir + path.sep), `entry outside the package: ${name}`);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, data);
    }
    const root = path.join(dir, 'extension');
    const stub = () => new Proxy(class {}, { get: (t, k) => (k in t ? t[k] : stub()) });
    const vscode = stub();
    const load = Module._load;
    Module._load = function (request, parent, isMain) {
      if (request === 'vscode') return vscode;
      return load.call(this, request, parent, isMain);
    };
    const before = new Set(Object.keys(require.cache));
    const extension = require(path.join(root, 'extension.js'));
    Module._load = load;
    assert.strictEqual(typeof extension.activate, 'function');
    assert.strictEqual(typeof extension.deactivate, 'function');
    const loaded = Object.keys(require.cache).filter((f) => !before.has(f));
    assert.ok(
      loaded.some((f) => f.includes(`${path.sep}vscode-languageclient${path.sep}`)),
      'extension.js loads vscode-languageclient',
    );
    for (const file of loaded) {
      assert.ok(file.startsWith(root + path.sep), `loaded from outside the package: ${file}`);
    }
    console.log(`vsix: the packaged extension.js loads ${loaded.length} modules, all from the package`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  console.error(`vsix: ${err.message}`);
  process.exit(1);
}
