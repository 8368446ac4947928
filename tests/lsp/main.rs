//! `resc lsp` through an in-process client: diagnostics, hover, inlay hints,
//! navigation, completion, symbols, quick fixes and formatting on real files,
//! with a golden transcript of what a person would see.

mod client;

use std::path::{Path, PathBuf};

use client::Client;
use lsp_types::Url;
use serde_json::{Value, json};

fn abs(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn uri_of(path: &Path) -> String {
    Url::from_file_path(path).unwrap().to_string()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(abs(path)).unwrap()
}

/// The line and UTF-16 column of the first occurrence of `needle` (plus `skip` characters).
fn pos_of(text: &str, needle: &str, skip: usize) -> (u32, u32) {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in text")) + skip;
    let before = &text[..at];
    let line = before.matches('\n').count() as u32;
    let col = before.rsplit('\n').next().unwrap().encode_utf16().count() as u32;
    (line, col)
}

fn codes(diags: &[Value]) -> Vec<String> {
    diags.iter().map(|d| d["code"].as_str().unwrap_or("").to_string()).collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("resc-lsp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn diagnostics_are_what_check_reports_and_clear_when_fixed() {
    let path = abs("tests/cases/errors/many_errors_one_file.res");
    let uri = uri_of(&path);
    let text = read("tests/cases/errors/many_errors_one_file.res");
    let mut c = Client::start(json!({}));
    c.open(&uri, &text);
    let diags = c.diagnostics(&uri);

    // The same codes and messages as `resc check --message-format json`.
    let prog = resc::sema::Program::load_path(&path).unwrap();
    let check = resc::driver::compile(&prog, resc::driver::Select::Root).unwrap_err();
    let want: Vec<String> = check.iter().map(|d| d.code().unwrap()).collect();
    assert_eq!(codes(&diags), want);
    assert!(diags.len() >= 4, "{diags:?}");
    for (d, k) in diags.iter().zip(&check) {
        let msg = d["message"].as_str().unwrap();
        assert!(msg.starts_with(&k.to_string()), "{msg}");
        if let Some(h) = k.help_text() {
            assert!(msg.ends_with(&format!("help: {h}")), "{msg}");
        }
    }
    // Ranges: the unknown `batchnorm` sits exactly under the name.
    let unknown = diags.iter().find(|d| d["message"].as_str().unwrap().contains("batchnorm")).unwrap();
    let (line, col) = pos_of(&text, "batchnorm", 0);
    assert_eq!(
        unknown["range"],
        json!({"start": {"line": line, "character": col}, "end": {"line": line, "character": col + 9}})
    );
    // The shape error carries its other label as related information.
    let shape = diags.iter().find(|d| d["code"] == "resc::shape::mismatch").unwrap();
    assert!(!shape["relatedInformation"].as_array().unwrap().is_empty(), "{shape}");

    let fixed = text
        .replace("conv(c, 3,, pad: 1)", "conv(c, 3, pad: 1)")
        .replace("batchnorm", "bn")
        .replace(", dilation: 1", "")
        .replace("layer2: basic(32, stride: 2)", "layer2: basic(16)");
    c.change(&uri, 2, &fixed);
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());
    c.shutdown();
}

#[test]
fn columns_are_utf16_unless_utf8_is_offered() {
    let text = "// ünïcödé 𝄞 before the error\nblock b() { c: cnv(4, 1) }\nmodel m = b() on [N, 3, 8, 8]\n";
    let uri = "file:///tmp/resc-lsp-unicode.res";
    let mut c = Client::start(json!({}));
    c.open(uri, &text.replace("block b() { c: cnv", "// 𝄞𝄞 ü\nblock b() { c: cnv"));
    let d = c.diagnostics(uri);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["range"]["start"], json!({"line": 2, "character": 15}));
    // A comment with non-ASCII text on the same line, before the error.
    let same_line =
        "block b() { c: conv(4, 1) }  \nmodel m = b() on [N, 3, 8, 8]  /* é𝄞 */ model n = zz() on [N, 3, 8, 8]\n";
    c.change(uri, 2, same_line);
    let d = c.diagnostics(uri);
    let zz = d.iter().find(|x| x["message"].as_str().unwrap().contains("zz")).expect("zz unknown");
    let (line, col) = pos_of(same_line, "zz()", 0);
    assert_eq!(zz["range"]["start"], json!({"line": line, "character": col}));
    assert_eq!(col, 51, "é is one UTF-16 unit, 𝄞 two");
    c.shutdown();

    let mut c8 = Client::start_with(json!({"capabilities": {"general": {"positionEncodings": ["utf-8", "utf-16"]}}}));
    c8.open(uri, same_line);
    let d = c8.diagnostics(uri);
    let zz = d.iter().find(|x| x["message"].as_str().unwrap().contains("zz")).unwrap();
    let bytes = same_line.find("zz()").unwrap() - same_line.find("\n").unwrap() - 1;
    assert_eq!(zz["range"]["start"]["character"], json!(bytes));
    c8.shutdown();
}

fn hover_text(c: &mut Client, uri: &str, line: u32, col: u32) -> String {
    let h = c.request("textDocument/hover", Client::at(uri, line, col));
    h["contents"]["value"].as_str().unwrap_or("").to_string()
}

#[test]
fn hover_shows_shapes_counts_signatures_and_totals() {
    let path = abs("stdlib/resnet.res");
    let uri = uri_of(&path);
    let text = read("stdlib/resnet.res");
    let mut c = Client::start(json!({}));
    c.open(&uri, &text);

    // A stage label in the network: per model, shape and counts.
    let (l, col) = pos_of(&text, "layer{i + 1}:", 1);
    let h = hover_text(&mut c, &uri, l, col);
    assert!(h.contains("**resnet50** layer1"), "{h}");
    assert!(h.contains("`[N, 256, 56, 56]`"), "{h}");
    assert!(h.contains("215,808 params"), "resnet50's layer1, as the summary says:\n{h}");

    // A conv inside the bottleneck: one line per size, folded over instances.
    let b = text.find("block bottleneck").unwrap();
    let (l, col) = pos_of(&text[..b], "", 0);
    let _ = (l, col);
    let conv2 = b + text[b..].find("conv2:").unwrap();
    let (l, col) = pos_of(&text, &text[conv2..conv2 + 30], 1);
    let h = hover_text(&mut c, &uri, l, col);
    assert!(h.contains("[N, 64, 56, 56]") && h.contains("[N, 512, 7, 7]"), "{h}");
    assert!(h.contains("more"), "many instances fold: {h}");

    // A block's name: signature and leading comment.
    let (l, col) = pos_of(&text, "block bottleneck", 7);
    let h = hover_text(&mut c, &uri, l, col);
    assert!(h.contains("block bottleneck(planes: int"), "{h}");

    // A model: totals.
    let (l, col) = pos_of(&text, "model resnet50 ", 7);
    let h = hover_text(&mut c, &uri, l, col);
    assert!(h.contains("25,557,032") && h.contains("4.09 G"), "{h}");

    // An op: its signature.
    let (l, col) = pos_of(&text, "conv(planes * 4, 1)", 1);
    let h = hover_text(&mut c, &uri, l, col);
    assert!(h.contains("conv(channels: int"), "{h}");
    assert!(h.contains("[N, 256, 56, 56]") && h.contains("16,384 params"), "{h}");
    c.shutdown();
}

#[test]
fn inlay_hints_show_each_line_s_output_and_can_be_turned_off() {
    let path = abs("examples/resnet50.res");
    let uri = uri_of(&path);
    let text = read("stdlib/resnet.res");
    let uri_lib = uri_of(&abs("stdlib/resnet.res"));
    let _ = path;
    let mut c = Client::start(json!({}));
    c.open(&uri_lib, &text);
    let all = json!({ "textDocument": { "uri": uri_lib }, "range": { "start": {"line": 0, "character": 0}, "end": {"line": 9999, "character": 0} } });
    let hints = c.request("textDocument/inlayHint", all.clone());
    let hints = hints.as_array().unwrap();
    let (stem_line, _) = pos_of(&text, "conv1: stem", 0);
    let stem: Vec<&Value> = hints.iter().filter(|h| h["position"]["line"] == stem_line).collect();
    assert_eq!(stem.len(), 1, "one hint per line: {stem:?}");
    assert_eq!(stem[0]["label"], "→ [N, 64, 112, 112]", "the line ends with the ReLU");
    let (pool_line, _) = pos_of(&text, "maxpool: pool", 0);
    let pool: Vec<&Value> = hints.iter().filter(|h| h["position"]["line"] == pool_line).collect();
    assert_eq!(pool[0]["label"], "→ [N, 64, 56, 56]");
    // A stage inside a `for`: one shape per stage and block kind, folded, at
    // the end of the layer (its `then` line).
    let (stage_line, _) = pos_of(&text, "then block(planes", 0);
    let stage = hints.iter().find(|h| h["position"]["line"] == stage_line).expect("stage hint");
    assert!(stage["label"].as_str().unwrap().starts_with("→ [N, 64, 56, 56] | [N, 128, 28, 28] |"), "{stage}");
    assert!(hints.len() > 10, "{}", hints.len());
    c.shutdown();

    let mut off = Client::start(json!({ "inlayHints": false }));
    off.open(&uri_lib, &text);
    assert_eq!(off.request("textDocument/inlayHint", all.clone()), json!([]));
    off.notify(
        "workspace/didChangeConfiguration",
        json!({ "settings": { "resc": { "inlayHints": { "enable": true } } } }),
    );
    assert!(!off.request("textDocument/inlayHint", all).as_array().unwrap().is_empty());
    off.shutdown();
    let _ = uri;
}

#[test]
fn definition_and_references_reach_the_standard_library() {
    let dir = scratch("def");
    let path = dir.join("net.res");
    let text = "use resnet\n\nmodel mine = resnet(bottleneck, [1, 1, 1, 1]) on [N, 3, 64, 64]\n";
    std::fs::write(&path, text).unwrap();
    let uri = uri_of(&path);
    let mut c = Client::start(json!({}));
    c.open(&uri, text);
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());

    let (l, col) = pos_of(text, "bottleneck,", 2);
    let d = c.request("textDocument/definition", Client::at(&uri, l, col));
    let target = Url::parse(d["uri"].as_str().unwrap()).unwrap().to_file_path().unwrap();
    let lib = std::fs::read_to_string(&target).unwrap();
    assert_eq!(lib, resc::stdlib::source("resnet").unwrap(), "the stdlib copy is the embedded text");
    assert!(std::fs::metadata(&target).unwrap().permissions().readonly());
    let (want_line, want_col) = pos_of(&lib, "block bottleneck", 6);
    assert_eq!(d["range"]["start"], json!({"line": want_line, "character": want_col}));

    let (l, col) = pos_of(text, "use resnet", 5);
    let d = c.request("textDocument/definition", Client::at(&uri, l, col));
    assert!(d["uri"].as_str().unwrap().ends_with("/resnet.res"), "{d}");

    // In the library itself: `from` labels and references of a block.
    let lib_uri = uri_of(&abs("stdlib/resnetv2.res"));
    let v2 = read("stdlib/resnetv2.res");
    c.open(&lib_uri, &v2);
    let (l, col) = pos_of(&v2, "shortcut from preact", 15);
    let d = c.request("textDocument/definition", Client::at(&lib_uri, l, col));
    let (want_line, _) = pos_of(&v2, "preact: relu", 0);
    assert_eq!(d["range"]["start"]["line"], json!(want_line), "{d}");

    let r_uri = uri_of(&abs("stdlib/resnet.res"));
    let r = read("stdlib/resnet.res");
    c.open(&r_uri, &r);
    let (l, col) = pos_of(&r, "block basic", 7);
    let refs = c.request(
        "textDocument/references",
        json!({ "textDocument": {"uri": r_uri}, "position": {"line": l, "character": col}, "context": {"includeDeclaration": true} }),
    );
    let refs = refs.as_array().unwrap();
    let in_checkout: Vec<&Value> = refs.iter().filter(|x| x["uri"] == r_uri).collect();
    let uses = r.matches("(basic").count();
    assert_eq!(in_checkout.len(), uses + 1, "the declaration and every use: {refs:?}");
    // The user's file loads the library's own copy: its uses are listed there.
    assert!(refs.iter().all(|x| x["uri"] == r_uri || x["uri"].as_str().unwrap().contains("/stdlib-")), "{refs:?}");
    c.shutdown();
}

#[test]
fn completion_offers_ops_blocks_arguments_and_labels() {
    let uri = uri_of(&abs("tests/scratch-complete.res"));
    let text = "use resnet\n\nblock mine(c: int, k: int = 3) {\n    act0: relu\n    c1: conv(c, \n}\n";
    let mut c = Client::start(json!({}));
    c.open(&uri, text);
    let (l, col) = pos_of(text, "conv(c, ", 8);
    let items = c.request("textDocument/completion", Client::at(&uri, l, col));
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    for want in ["stride:", "groups:", "dilation:", "relu", "bottleneck", "mine"] {
        assert!(labels.contains(&want), "{want} missing from {labels:?}");
    }
    let stride = items.as_array().unwrap().iter().find(|i| i["label"] == "stride:").unwrap();
    assert!(stride["detail"].as_str().unwrap().contains("= 1"), "{stride}");

    let text2 = text.replace("c1: conv(c, \n", "c1: conv(c, 1)\n    from ");
    c.change(&uri, 2, &text2);
    let (l, col) = pos_of(&text2, "from ", 5);
    let items = c.request("textDocument/completion", Client::at(&uri, l, col));
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, vec!["act0", "c1"]);

    // A block's own parameters, with types and defaults.
    let text3 = text.replace("c1: conv(c, \n", "x: bottleneck(\n");
    c.change(&uri, 3, &text3);
    let (l, col) = pos_of(&text3, "bottleneck(", 11);
    let items = c.request("textDocument/completion", Client::at(&uri, l, col));
    let planes = items.as_array().unwrap().iter().find(|i| i["label"] == "planes:").expect("planes");
    assert_eq!(planes["detail"], "planes: int");
    c.shutdown();
}

#[test]
fn symbols_quick_fixes_and_formatting() {
    let uri = uri_of(&abs("stdlib/densenet.res"));
    let text = read("stdlib/densenet.res");
    let mut c = Client::start(json!({}));
    c.open(&uri, &text);
    let syms = c.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    let names: Vec<&str> = syms.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"densenet121") && names.contains(&"densenet"), "{names:?}");
    let net = syms.as_array().unwrap().iter().find(|s| s["name"] == "densenet").unwrap();
    assert!(net["children"].as_array().unwrap().iter().any(|ch| ch["name"] == "features"), "{net}");

    let bad_uri = uri_of(&abs("tests/scratch-fix.res"));
    let bad =
        "block b(c: int) {\n    conv1: conv(c, 3, padding: 1);  bn1: batchnorm\n}\nmodel m = b(8) on [N, 3, 8, 8]\n";
    c.open(&bad_uri, bad);
    let whole = json!({ "start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0} });
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": {"uri": bad_uri}, "range": whole, "context": {"diagnostics": []} }),
    );
    let titles: Vec<&str> = actions.as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(titles, vec!["Replace with `pad`", "Replace with `bn`"]);
    let edit = &actions[1]["edit"]["changes"][&bad_uri][0];
    let (l, col) = pos_of(bad, "batchnorm", 0);
    assert_eq!(edit["range"]["start"], json!({"line": l, "character": col}));
    assert_eq!(edit["newText"], "bn");
    assert_eq!(actions[1]["diagnostics"][0]["code"], "resc::sema::unknown_name");

    // Formatting goes through `resc fmt`'s printer.
    let messy = "block b(c: int) {\n  conv1:conv(c,3);bn1: bn\n}\nmodel m = b(8) on [N,3,8,8]\n";
    c.change(&bad_uri, 2, messy);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": {"uri": bad_uri}, "options": {"tabSize": 4, "insertSpaces": true} }),
    );
    let want = resc::fmt::format_source(messy).unwrap();
    assert_ne!(want, messy);
    assert_eq!(edits[0]["newText"], want);
    c.shutdown();
}

#[test]
fn unsaved_buffers_are_seen_by_files_that_use_them() {
    let dir = scratch("overlay");
    let lib = dir.join("blocks.res");
    std::fs::write(&lib, "block old(c: int) { conv1: conv(c, 1) }\n").unwrap();
    let main = dir.join("main.res");
    let main_text = "use \"blocks.res\"\nmodel m = fresh(8) on [N, 3, 8, 8]\n";
    std::fs::write(&main, main_text).unwrap();
    let (lib_uri, main_uri) = (uri_of(&lib), uri_of(&main));
    let mut c = Client::start(json!({}));
    c.open(&main_uri, main_text);
    assert_eq!(codes(&c.diagnostics(&main_uri)), vec!["resc::sema::unknown_name"]);
    // The library is opened and edited, never saved.
    c.open(&lib_uri, "block old(c: int) { conv1: conv(c, 1) }\n");
    c.change(&lib_uri, 2, "block fresh(c: int) { conv1: conv(c, 1) }\n");
    assert_eq!(c.diagnostics(&main_uri), Vec::<Value>::new());
    c.shutdown();
}

#[test]
fn queued_changes_are_checked_once_and_requests_see_the_newest_text() {
    let uri = "file:///tmp/resc-lsp-batch.res";
    let mut c = Client::unstarted();
    let init = c.send_request("initialize", json!({ "capabilities": {} }));
    c.notify("initialized", json!({}));
    c.open(uri, "model m = nothing() on [N, 3, 8, 8]\n");
    for v in 2..50 {
        c.change(uri, v, &format!("model m = nothing{v}() on [N, 3, 8, 8]\n"));
    }
    c.change(uri, 50, "block b() { relu }\nmodel m = b() on [N, 3, 8, 8]\n");
    let hover = c.send_request("textDocument/hover", Client::at(uri, 1, 7));
    c.run_server();
    c.wait(init).unwrap();
    let h = c.wait(hover).unwrap();
    assert!(h["contents"]["value"].as_str().unwrap().contains("[N, 3, 8, 8] → [N, 3, 8, 8]"), "{h}");
    assert_eq!(c.published_count(uri), 1, "49 changes in one batch, one check");
    c.shutdown();
}

#[test]
fn every_prefix_of_every_stdlib_file_keeps_the_server_alive() {
    let uri = "file:///tmp/resc-lsp-prefixes.res";
    let mut c = Client::start(json!({}));
    c.open(uri, "");
    let mut version = 1;
    for name in resc::stdlib::NAMES {
        let text = resc::stdlib::source(name).unwrap();
        let cuts: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
        for (k, &cut) in cuts.iter().enumerate() {
            let prefix = &text[..cut];
            version += 1;
            c.change(uri, version, prefix);
            // Requests at the cursor every few bytes; each one forces a check first.
            if k % 7 == 0 || cut == text.len() {
                let lines = prefix.matches('\n').count() as u32;
                let col = prefix.rsplit('\n').next().unwrap().encode_utf16().count() as u32;
                for method in ["textDocument/hover", "textDocument/completion", "textDocument/definition"] {
                    let id = c.send_request(method, Client::at(uri, lines, col));
                    c.wait(id).unwrap_or_else(|e| panic!("{method} at {name}:{cut}: {e}"));
                }
                let id = c.send_request(
                    "textDocument/inlayHint",
                    json!({ "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": lines + 1, "character": 0}} }),
                );
                c.wait(id).unwrap();
            }
        }
        c.notes.clear();
    }
    c.shutdown();
}

#[test]
fn malformed_requests_get_errors_not_a_dead_server() {
    let uri = "file:///tmp/resc-lsp-bad.res";
    let mut before = Client::unstarted();
    before.run_server();
    let early = before.send_request("textDocument/hover", Client::at(uri, 0, 0));
    assert_eq!(before.wait(early).unwrap_err()["code"], -32002, "not initialized yet");
    let init = before.send_request("initialize", json!({ "capabilities": {} }));
    before.wait(init).unwrap();
    let mut c = before;
    c.notify("initialized", json!({}));
    c.open(uri, "block b() { relu }\nmodel m = b() on [N, 3, 8, 8]\n");
    let bad = c.send_request("textDocument/hover", json!({ "nonsense": true }));
    assert_eq!(c.wait(bad).unwrap_err()["code"], -32602);
    let unknown = c.send_request("textDocument/teleport", json!({}));
    assert_eq!(c.wait(unknown).unwrap_err()["code"], -32601);
    let closed = c.send_request("textDocument/hover", Client::at("file:///nowhere.res", 0, 0));
    assert!(c.wait(closed).is_err());
    c.notify("textDocument/didChange", json!({ "garbage": [1, 2, 3] }));
    c.notify("$/unknownNotification", json!(null));
    let far = c.send_request("textDocument/hover", Client::at(uri, 4_000_000, 4_000_000));
    assert_eq!(c.wait(far).unwrap(), Value::Null);
    let h = c.request("textDocument/hover", Client::at(uri, 1, 7));
    assert!(h["contents"]["value"].as_str().unwrap().contains("model m"), "{h}");
    c.shutdown();
}

/// The real binary over stdio: garbage between valid messages is answered
/// with JSON-RPC errors and the session goes on.
#[test]
fn the_stdio_server_survives_garbage() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    fn frame(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_resc"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = Vec::new();
    input.extend(frame(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#));
    input.extend(frame("{this is not json"));
    input.extend(b"Content-Length: banana\r\n\r\n");
    input.extend(frame(r#"{"jsonrpc":"2.0","id":2}"#));
    input.extend(frame(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#));
    input.extend(frame(r#"{"jsonrpc":"2.0","id":3,"method":"shutdown"}"#));
    input.extend(frame(r#"{"jsonrpc":"2.0","method":"exit"}"#));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&input).unwrap();
    drop(stdin);
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(out.contains(r#""id":1,"result""#), "{out}");
    assert!(out.contains("-32700"), "parse error answered: {out}");
    assert!(out.contains(r#""id":2"#) && out.contains("-32600"), "invalid request answered: {out}");
    assert!(out.contains(r#""id":3,"result":null"#), "shutdown answered: {out}");
}

/// What a person sees in one editing session, written out as text and
/// compared with `tests/cases/lsp/session.transcript`. `RESC_BLESS=1`
/// rewrites it (refused under `CI=true`).
#[test]
fn golden_session_transcript() {
    let path = abs("tests/cases/lsp/session.res");
    let uri = uri_of(&path);
    let broken = read("tests/cases/lsp/session.res");
    let mut c = Client::start(json!({}));
    let mut t = String::new();
    let show = |v: &Value| -> String {
        let s = &v["start"];
        let e = &v["end"];
        format!("{}:{}-{}:{}", s["line"], s["character"], e["line"], e["character"])
    };

    c.open(&uri, &broken);
    t += "== diagnostics (broken)\n";
    for d in c.diagnostics(&uri) {
        let msg = d["message"].as_str().unwrap().replace('\n', " | ");
        t += &format!("{} {} {}\n", show(&d["range"]), d["code"].as_str().unwrap(), msg);
    }
    t += "== quick fixes\n";
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}}, "context": {"diagnostics": []} }),
    );
    for a in actions.as_array().unwrap() {
        let e = &a["edit"]["changes"][&uri][0];
        t += &format!(
            "{} at {} -> {:?}\n",
            a["title"].as_str().unwrap(),
            show(&e["range"]),
            e["newText"].as_str().unwrap()
        );
    }

    let fixed = broken.replace("batchnorm", "bn").replace("strde", "stride");
    c.change(&uri, 2, &fixed);
    t += &format!("== diagnostics (fixed): {}\n", c.diagnostics(&uri).len());

    let hovers = [
        ("layer2", 1, "stage label"),
        ("conv2: conv", 9, "op in a block"),
        ("block wide_basic", 8, "block name"),
        ("small_basic =", 2, "model"),
        ("small(wide_basic)", 8, "block passed as an argument"),
    ];
    for (needle, skip, what) in hovers {
        let (l, col) = pos_of(&fixed, needle, skip);
        t += &format!("== hover {what} ({l}:{col})\n{}\n", hover_text(&mut c, &uri, l, col).trim_end());
    }

    t += "== inlay hints\n";
    let hints = c.request(
        "textDocument/inlayHint",
        json!({ "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}} }),
    );
    for h in hints.as_array().unwrap() {
        let line = h["position"]["line"].as_u64().unwrap() as usize;
        t += &format!("{:<60} {}\n", fixed.lines().nth(line).unwrap().trim_end(), h["label"].as_str().unwrap());
    }

    t += "== definition\n";
    for (needle, skip) in [("small(basic)", 7), ("small(wide", 1), ("use resnet", 5)] {
        let (l, col) = pos_of(&fixed, needle, skip);
        let d = c.request("textDocument/definition", Client::at(&uri, l, col));
        let target = d["uri"].as_str().unwrap();
        let file = target.rsplit('/').next().unwrap();
        t += &format!("{needle} -> {file} {}\n", show(&d["range"]));
    }

    t += "== completion in `conv(16, 3, |`\n";
    let (l, col) = pos_of(&fixed, "conv(16, 3, ", 12);
    let items = c.request("textDocument/completion", Client::at(&uri, l, col));
    let mut items: Vec<&Value> = items.as_array().unwrap().iter().collect();
    items.sort_by_key(|i| i["sortText"].as_str().unwrap_or("").to_string());
    for i in items.iter().take(6) {
        t += &format!("{} ({})\n", i["label"].as_str().unwrap(), i["detail"].as_str().unwrap_or(""));
    }

    t += "== symbols\n";
    let syms = c.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    for s in syms.as_array().unwrap() {
        let kids: Vec<&str> = s["children"]
            .as_array()
            .map(|k| k.iter().map(|c| c["name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        t += &format!("{} [{}] {}\n", s["name"].as_str().unwrap(), s["kind"], kids.join(" "));
    }

    t += "== formatting\n";
    let messy =
        fixed.replace("    conv1: conv(16, 3, pad: 1);  bn1: bn;  relu", "  conv1:conv(16,3,pad:1);bn1:bn;relu");
    c.change(&uri, 3, &messy);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true} }),
    );
    let formatted = edits[0]["newText"].as_str().unwrap();
    let canonical = resc::fmt::format_source(&fixed).unwrap();
    t += &format!("gives the canonical layout: {}\n", formatted == canonical);
    for line in formatted.lines().filter(|l| l.contains("conv1: conv(16")) {
        t += &format!("{line}\n");
    }
    c.shutdown();

    let expected = abs("tests/cases/lsp/session.transcript");
    let bless = std::env::var_os("RESC_BLESS").is_some() && std::env::var("CI").map_or(true, |v| v != "true");
    if bless {
        std::fs::write(&expected, &t).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&expected).unwrap_or_default();
    assert!(want == t, "the session differs from {}:\n--- expected\n{want}\n--- got\n{t}", expected.display());
}

#[test]
fn errors_in_the_standard_library_show_at_the_user_s_line_too() {
    let path = abs("tests/cases/errors/family_growth_rate_zero.res");
    let uri = uri_of(&path);
    let text = read("tests/cases/errors/family_growth_rate_zero.res");
    let mut c = Client::start(json!({}));
    c.open(&uri, &text);
    let mine = c.diagnostics(&uri);
    assert_eq!(codes(&mine), vec!["resc::sema::assertion"]);
    let (line, col) = pos_of(&text, "densenet(0", 0);
    assert_eq!(mine[0]["range"]["start"], json!({"line": line, "character": col}));
    let related = mine[0]["relatedInformation"].as_array().unwrap();
    let copy = resc::stdlib::on_disk("densenet").unwrap();
    assert!(related.iter().any(|r| r["location"]["uri"] == uri_of(&copy)), "{related:?}");
    // The library's copy gets the diagnostic at the assert itself.
    let lib_uri = uri_of(&copy);
    let lib = c
        .notes
        .iter()
        .rev()
        .find(|n| n.method == "textDocument/publishDiagnostics" && n.params["uri"] == lib_uri)
        .expect("published for the library file");
    let lib_text = resc::stdlib::source("densenet").unwrap();
    let (line, _) = pos_of(lib_text, "assert growth", 0);
    assert_eq!(lib.params["diagnostics"][0]["range"]["start"]["line"], json!(line));
    // Fixed: both clear.
    c.change(&uri, 2, &text.replace("densenet(0", "densenet(32"));
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());
    let cleared =
        c.notes.iter().rev().find(|n| n.method == "textDocument/publishDiagnostics" && n.params["uri"] == lib_uri);
    assert_eq!(cleared.unwrap().params["diagnostics"], json!([]));
    c.shutdown();
}
