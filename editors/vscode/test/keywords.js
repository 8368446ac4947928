#!/usr/bin/env node
// The highlighting must know every keyword of the language: each quoted word in
// grammar/res.pest (`"residual"`, `"concat"`, ...) has to appear as a word in a
// pattern of syntaxes/resc.tmLanguage.json that gives a keyword or language
// constant scope, and every word such a pattern treats as a keyword has to be
// one in res.pest. This reads both files as text, so a keyword added to (or
// removed from) the compiler's grammar fails here until the highlighting follows.
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const pestPath = path.resolve(root, '..', '..', 'grammar', 'res.pest');
const tmPath = path.join(root, 'syntaxes', 'resc.tmLanguage.json');

// Quoted words of the pest grammar, comments stripped. `^"e"` (the exponent of a
// float) is a single letter, not a keyword.
const pest = fs
  .readFileSync(pestPath, 'utf8')
  .split('\n')
  .map((line) => line.replace(/\/\/.*$/, ''))
  .join('\n');
const pestWords = new Set();
for (const m of pest.matchAll(/"([A-Za-z_][A-Za-z0-9_]*)"/g)) {
  if (m[1].length > 1) pestWords.add(m[1]);
}
if (pestWords.size < 20) {
  console.error(`keywords: only ${pestWords.size} quoted words in ${pestPath}; did the grammar move?`);
  process.exit(1);
}

// Scopes that mark a word as part of the language itself.
const KEYWORD_SCOPE = /^(keyword|constant\.language)\./;
// `in` is also the block's input (`in.c`, `from in`).
const LANGUAGE_VARIABLE = /^variable\.language\./;

/** Every regex of the grammar with the scopes it (or its captures) assigns. */
function* rules(node) {
  if (Array.isArray(node)) {
    for (const item of node) yield* rules(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const scopes = [];
  if (typeof node.name === 'string') scopes.push(node.name);
  for (const key of ['captures', 'beginCaptures', 'endCaptures']) {
    for (const capture of Object.values(node[key] || {})) {
      if (capture && typeof capture.name === 'string') scopes.push(capture.name);
    }
  }
  for (const key of ['match', 'begin']) {
    if (typeof node[key] === 'string') yield { regex: node[key], scopes };
  }
  for (const value of Object.values(node)) {
    if (value && typeof value === 'object') yield* rules(value);
  }
}

/** The bare words a regex spells out: character classes (`[A-Za-z_]`), escapes
 *  (`\b`, `\s`) and group openers (`(?:`, `(?<!`) removed. */
function wordsOf(regex) {
  const text = regex
    .replace(/\[(?:\\.|[^\]\\])*\]/g, ' ')
    .replace(/\\[A-Za-z]/g, ' ')
    .replace(/\(\?[<!=:]+/g, ' ');
  return new Set(text.match(/[A-Za-z_][A-Za-z0-9_]*/g) || []);
}

const grammar = JSON.parse(fs.readFileSync(tmPath, 'utf8'));
const highlighted = new Set(); // words in a keyword-scoped rule
for (const { regex, scopes } of rules(grammar.repository)) {
  if (!scopes.some((s) => KEYWORD_SCOPE.test(s) || LANGUAGE_VARIABLE.test(s))) continue;
  for (const word of wordsOf(regex)) highlighted.add(word);
}

const problems = [];
for (const word of [...pestWords].sort()) {
  if (!highlighted.has(word)) {
    problems.push(`\`${word}\` is quoted in grammar/res.pest but no keyword pattern of resc.tmLanguage.json matches it`);
  }
}

// The other way: a word that a keyword pattern spells out must be a keyword of
// res.pest, so a keyword the compiler dropped stops being highlighted as one.
for (const { regex, scopes } of rules(grammar.repository)) {
  if (!scopes.some((s) => /^keyword\./.test(s))) continue;
  for (const word of wordsOf(regex)) {
    if (!pestWords.has(word)) {
      problems.push(`\`${word}\` is highlighted as a keyword (${regex}) but grammar/res.pest does not quote it`);
    }
  }
}

if (problems.length > 0) {
  for (const p of problems) console.error(`keywords: ${p}`);
  process.exit(1);
}
console.log(`keywords: all ${pestWords.size} words of grammar/res.pest are highlighted: ${[...pestWords].sort().join(' ')}`);
