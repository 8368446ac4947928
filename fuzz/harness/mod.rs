//! The code each fuzz target runs, shared with `tests/fuzz_replay.rs` so the
//! committed corpora replay on stable as ordinary tests.
//!
//! Every function takes the raw input of its target and must return without
//! panicking, whatever the input; errors (diagnostics) are fine.

#![allow(dead_code)]

pub mod generate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use resc::driver::{self, Select};
use resc::engine::{self, Engine, shapecheck};
use resc::ir::Graph;
use resc::sema::Program;

/// Sizes above which a generated model is only compiled, not run.
const RUN_MAX_MACS: u128 = 400_000;
const RUN_MAX_VALUES: u128 = 20_000;

/// Marks the start of a further file in a `check_text` input: the text after
/// `//# file NAME` (to the next marker) is what `use "NAME"` reads.
const FILE_MARKER: &str = "//# file ";

/// The root file and the extra files of a `check_text` input.
fn split_files(text: &str) -> (String, HashMap<PathBuf, String>) {
    let mut parts = text.split(FILE_MARKER);
    let root = parts.next().unwrap_or_default().to_string();
    let mut files = HashMap::new();
    for part in parts {
        let (name, body) = part.split_once('\n').unwrap_or((part, ""));
        files.insert(PathBuf::from(name.trim()), body.to_string());
    }
    (root, files)
}

/// Loads `text` as `fuzz.res`; `use "NAME"` reads only the input's own files
/// (never the disk: a fuzzed path could name /dev/zero).
fn load(text: &str) -> Program {
    let (root, files) = split_files(text);
    let read = |p: &Path| -> std::io::Result<String> {
        files.get(p).cloned().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not in the fuzz input"))
    };
    Program::load_text_with("fuzz.res", None, &root, &read)
}

/// Everything `resc check`, `resc summary` and `resc summary --json` do with
/// a file, and `resc fmt`: the text is any bytes, read as UTF-8 (lossy).
pub fn check_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let prog = load(&text);
    match driver::compile(&prog, Select::Root) {
        Ok(graphs) => {
            for g in &graphs {
                let _ = resc::backend::summary::emit(g, &resc::backend::summary::Options { depth: 1 });
                let _ = resc::backend::summary::emit(g, &resc::backend::summary::Options { depth: 3 });
            }
            let _ = resc::backend::json::emit_all(&graphs, 2);
        }
        Err(diags) => {
            let _ = resc::report::human(&diags, 100, false);
            let _ = resc::report::json(&diags, &prog.sources);
            for g in driver::partial(&prog, Select::Root, &driver::Options::default()) {
                let _ = resc::backend::summary::emit(&g, &resc::backend::summary::Options { depth: 1 });
            }
        }
    }
    let _ = resc::fmt::format_source(&text);
}

/// A generated program (see `generate`): the front end, then for each model
/// that builds every backend and the engine's shape check, and for tiny
/// models a forward pass on the engine checked against the interpreter.
pub fn check_program(data: &[u8]) {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(spec) = u.arbitrary::<generate::Spec>() else { return };
    let text = spec.render();
    check_source(&text, spec.run);
}

/// The `check_program` pipeline on given text (also used for seeds).
pub fn check_source(text: &str, run: bool) {
    let prog = Program::load_text_with("gen.res", None, text, &|_| {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "generated programs use no files"))
    });
    let graphs = match driver::compile(&prog, Select::Root) {
        Ok(graphs) => graphs,
        Err(diags) => {
            let _ = resc::report::human(&diags, 100, false);
            let _ = resc::report::json(&diags, &prog.sources);
            return;
        }
    };
    for g in graphs {
        let _ = resc::backend::summary::emit(&g, &resc::backend::summary::Options { depth: 2 });
        let _ = resc::backend::json::emit(&g);
        let _ = resc::backend::ir_text::emit(&g, &prog.sources);
        let _ = resc::backend::dot::emit(&g, &resc::backend::dot::Options { depth: None });
        if let Err(e) = resc::backend::burn::emit(&g, &prog) {
            let _ = resc::report::human(&[resc::diag::Diag::new(e)], 100, false);
        }
        onnx_export(&g);
        engine_checks(g, run);
    }
}

/// The ONNX export, BN kept and folded, keeps the checker's rules.
fn onnx_export(g: &Graph) {
    use resc::backend::onnx;
    let weights = resc::weights::random(g, 1);
    for fold_bn in [false, true] {
        match onnx::model(g, &weights, onnx::Options { fold_bn }) {
            Ok(m) => {
                let problems = onnx::check::problems(&m);
                assert!(problems.is_empty(), "ONNX export of {} (fold_bn {fold_bn}): {problems:?}", g.name);
            }
            Err(e) => {
                let _ = resc::report::human(&[resc::diag::Diag::new(e)], 100, false);
            }
        }
    }
}

/// Input dims to try: the declared ones and a few others.
fn trial_dims(g: &Graph) -> Vec<[i64; 4]> {
    let declared = g.node(g.input).shape.concrete(1);
    let [n, c, h, w] = declared[..] else { return Vec::new() };
    let (n, c, h, w) = (n as i64, c as i64, h as i64, w as i64);
    vec![[n, c, h, w], [2, c, h, w], [1, c, h + 1, w + 3], [1, c, 1, 1], [1, c + 1, h, w], [1, c, 2 * h, 2 * w]]
}

/// The interpreted shape check beside the compiled one (they must agree),
/// and, for a tiny model, the engine's forward pass beside the interpreter's.
fn engine_checks(g: Graph, run: bool) {
    let program = shapecheck::build(&g);
    let trials = trial_dims(&g);
    let interpreted: Vec<Result<Vec<i64>, u32>> = trials
        .iter()
        .map(|&dims| {
            let mut out = vec![0i64; program.slots];
            shapecheck::eval(&program, dims, &mut out).map(|()| out)
        })
        .collect();
    for (dims, r) in trials.iter().zip(&interpreted) {
        if let Err(id) = r {
            let mut out = vec![0i64; program.slots];
            let _ = shapecheck::eval(&program, *dims, &mut out);
            let _ = shapecheck::describe(&g, &program, *id, &out);
        }
    }
    if !run {
        return;
    }
    let counts = resc::passes::total_counts(&g);
    let declared: Vec<usize> = g.node(g.input).shape.concrete(1).iter().map(|&d| d as usize).collect();
    let values: u128 = declared.iter().map(|&d| d as u128).product();
    let small = counts.macs <= RUN_MAX_MACS && counts.params <= RUN_MAX_VALUES && values <= RUN_MAX_VALUES;
    let weights = resc::weights::random(&g, 1);
    let reference = if small && declared.len() == 4 {
        let mut rng = resc::weights::Rng::new(3);
        let data: Vec<f32> = (0..values).map(|_| rng.uniform()).collect();
        let input = resc::backend::interp::Tensor::new(declared.clone(), data);
        resc::backend::interp::run(&g, &weights, &input).ok().map(|y| (input, y))
    } else {
        None
    };
    let options = engine::Options { threads: 1, memory_limit: 64 << 20, ..Default::default() };
    let Ok(mut eng) = Engine::new(g, weights, options) else { return };
    for (dims, want) in trials.iter().zip(&interpreted) {
        let input: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        let got = eng.check(&input);
        match (want, &got) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "compiled and interpreted shape checks differ at {dims:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("compiled and interpreted shape checks disagree at {dims:?}: {want:?} vs {:?}", got.is_ok()),
        }
    }
    if let Some((input, want)) = reference {
        let Ok(got) = eng.run(&input.data, &input.shape) else {
            panic!("the engine refused an input the interpreter ran: {:?}", input.shape)
        };
        assert_eq!(got.shape, want.shape, "engine and interpreter output shapes differ");
        for (i, (a, b)) in got.data.iter().zip(&want.data).enumerate() {
            let close = (a - b).abs() <= 1e-3 * (1.0 + a.abs().max(b.abs())) || (a.is_nan() && b.is_nan());
            assert!(close, "engine and interpreter differ at {i}: {a} vs {b}");
        }
    }
}

/// A small model to check weights against: two convs with batch norm, a linear head.
pub const WEIGHTS_MODEL: &str = "
network tiny(classes: int = 3) {
    conv1: conv(2, 3, pad: 1);  bn1: bn;  relu
    conv2: conv(2, 1, bias: true)
    global_avg;  flatten
    fc: linear(classes)
}
model tiny2 = tiny() on [N, 1, 4, 4]
";

fn tiny_graph() -> Graph {
    let prog = Program::load_text("tiny.res", None, WEIGHTS_MODEL);
    let mut graphs = driver::compile(&prog, Select::Root).unwrap_or_else(|_| panic!("the weights model builds"));
    graphs.remove(0)
}

thread_local! {
    static TINY: Graph = tiny_graph();
    static TINY_ENGINE: std::cell::RefCell<Engine> = std::cell::RefCell::new(
        Engine::new(tiny_graph(), resc::weights::random(&tiny_graph(), 1),
            engine::Options { threads: 1, memory_limit: 64 << 20, ..Default::default() })
            .unwrap_or_else(|e| panic!("the tiny model compiles: {e}")),
    );
}

/// A scratch file for the weights reader, one per process and thread.
fn scratch_path() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static ID: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    let dir = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    dir.join(format!("resc-fuzz-{}-{}.safetensors", std::process::id(), ID.with(|i| *i)))
}

/// The bytes as a weights file for the tiny model, through the reader
/// `resc run --weights` uses; weights that load must run.
pub fn safetensors(data: &[u8]) {
    let path = scratch_path();
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let result = TINY.with(|g| resc::weights::load_safetensors(&path, g));
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(weights) => {
            let g = tiny_graph();
            let Ok(mut eng) = Engine::new(g, weights, engine::Options { threads: 1, ..Default::default() }) else {
                panic!("weights that load must lower")
            };
            let out = eng.run(&[0.5; 16], &[1, 1, 4, 4]);
            assert!(out.is_ok(), "weights that load must run");
        }
        Err(e) => {
            let _ = resc::report::human(&[resc::diag::Diag::new(e)], 100, false);
        }
    }
}

/// The bytes as an input `.npy`, read as `resc run --input` reads it
/// (`resc::npy::read_f32`), then given to the engine of the tiny model,
/// which checks the shape and runs it when the shape fits.
pub fn npy(data: &[u8]) {
    let Ok((shape, values)) = quietly(|| resc::npy::read_f32(data)) else { return };
    TINY_ENGINE.with(|eng| {
        let _ = eng.borrow_mut().run(&values, &shape);
    });
}

/// Runs `f` with a silent panic hook: `resc::npy` catches a panic inside
/// npyz (an upstream bug it turns into a refused file), which libFuzzer's
/// hook would otherwise report as a crash. A panic that escapes `f` still
/// fails the input.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// One step of an editor session for the `lsp` target.
#[derive(arbitrary::Arbitrary, Clone, Copy, Debug)]
enum Edit {
    /// Open (or reopen) the document with the whole text.
    Open,
    /// Replace the document with the text's first so many characters.
    Truncate(u16),
    /// Replace a range with a piece of the text.
    Change {
        line: u8,
        character: u8,
        end_line: u8,
        end_character: u8,
        from: u16,
        len: u8,
    },
    Hover(u8, u8),
    Completion(u8, u8),
    Definition(u8, u8),
    References(u8, u8),
    InlayHints,
    Symbols,
    Format,
    CodeAction(u8, u8),
    Close,
}

/// Document text for the server, which reads `use`d files from disk: with
/// quotes gone, a fuzzed `use` can only name the standard library.
fn editor_text(s: &str) -> String {
    s.replace('"', "'")
}

/// A session with the language server over an in-memory connection. The
/// input is `SCRIPT \0 TEXT`: the script (decoded by `arbitrary`) is a
/// sequence of opens, edits (pieces of the text) and requests, all queued at
/// once, then shutdown and exit; the server must answer each and return.
pub fn lsp(data: &[u8]) {
    use lsp_server::{Connection, Message, Notification, Request, RequestId};
    use serde_json::json;
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let chars: Vec<char> =
        editor_text(&String::from_utf8_lossy(data.get(split + 1..).unwrap_or_default())).chars().collect();
    let piece = |from: usize, len: usize| -> String { chars.iter().skip(from).take(len).collect() };
    let mut u = arbitrary::Unstructured::new(&data[..split]);
    let utf8: bool = u.arbitrary().unwrap_or(false);
    let mut edits: Vec<Edit> = Vec::new();
    while edits.len() < 16 {
        let Ok(e) = u.arbitrary() else { break };
        edits.push(e);
        if u.is_empty() {
            break;
        }
    }
    let (client, server) = Connection::memory();
    let uri = "file:///nonexistent-resc-fuzz/doc.res";
    let doc = json!({ "uri": uri });
    let mut id = 0;
    let mut request = |method: &str, params: serde_json::Value| {
        id += 1;
        let r = Request::new(RequestId::from(id), method.into(), params);
        let _ = client.sender.send(Message::Request(r));
    };
    let notify = |method: &str, params: serde_json::Value| {
        let _ = client.sender.send(Message::Notification(Notification::new(method.into(), params)));
    };
    let encodings = if utf8 { json!(["utf-8", "utf-16"]) } else { json!(["utf-16"]) };
    request("initialize", json!({ "capabilities": { "general": { "positionEncodings": encodings } } }));
    notify("initialized", json!({}));
    let mut version = 0;
    for e in edits {
        version += 1;
        let at = |l: u8, c: u8| json!({ "textDocument": doc, "position": { "line": l, "character": c } });
        match e {
            Edit::Open => notify(
                "textDocument/didOpen",
                json!({ "textDocument": { "uri": uri, "languageId": "resc", "version": version, "text": piece(0, chars.len()) } }),
            ),
            Edit::Truncate(n) => notify(
                "textDocument/didChange",
                json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": piece(0, n as usize) }] }),
            ),
            Edit::Change { line, character, end_line, end_character, from, len } => notify(
                "textDocument/didChange",
                json!({
                    "textDocument": { "uri": uri, "version": version },
                    "contentChanges": [{
                        "range": { "start": { "line": line, "character": character },
                                   "end": { "line": end_line, "character": end_character } },
                        "text": piece(from as usize, len as usize),
                    }],
                }),
            ),
            Edit::Hover(l, c) => request("textDocument/hover", at(l, c)),
            Edit::Completion(l, c) => request("textDocument/completion", at(l, c)),
            Edit::Definition(l, c) => request("textDocument/definition", at(l, c)),
            Edit::References(l, c) => {
                let mut p = at(l, c);
                p["context"] = json!({ "includeDeclaration": true });
                request("textDocument/references", p)
            }
            Edit::InlayHints => request(
                "textDocument/inlayHint",
                json!({ "textDocument": doc, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 1000, "character": 0 } } }),
            ),
            Edit::Symbols => request("textDocument/documentSymbol", json!({ "textDocument": doc })),
            Edit::Format => request(
                "textDocument/formatting",
                json!({ "textDocument": doc, "options": { "tabSize": 4, "insertSpaces": true } }),
            ),
            Edit::CodeAction(l, c) => request(
                "textDocument/codeAction",
                json!({
                    "textDocument": doc,
                    "range": { "start": { "line": l, "character": c }, "end": { "line": l, "character": c } },
                    "context": { "diagnostics": [] },
                }),
            ),
            Edit::Close => notify("textDocument/didClose", json!({ "textDocument": doc })),
        }
    }
    request("shutdown", serde_json::Value::Null);
    notify("exit", serde_json::Value::Null);
    let _ = resc::lsp::serve(server);
    // Every request is answered, and no answer is an internal error (a caught panic).
    let mut answered = 0;
    for msg in client.receiver.try_iter() {
        if let Message::Response(r) = msg {
            answered += 1;
            if let Err(e) = &r.response_result {
                assert!(e.code != lsp_server::ErrorCode::InternalError as i32, "internal error: {}", e.message);
            }
        }
    }
    assert_eq!(answered, id, "every request gets an answer");
}
