//! Language-server benchmark: `resc lsp` as a separate process over stdio,
//! driven like an editor drives it.
//!
//! Run with `cargo bench --bench lsp`. For each standard-library file it
//! measures the time from sending `didChange` to receiving the matching
//! `publishDiagnostics` (p50/p95 over many edits), hover and inlay-hint
//! latency, and for the largest file the server's resident memory after 100
//! and after 10,000 edits. The baseline, measured in the same run, is a whole
//! `resc check` process on the same file.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    next_id: i64,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_resc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("resc lsp starts");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            loop {
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if out.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                out.read_exact(&mut body).unwrap();
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        let mut s = Server { child, stdin, rx, next_id: 1 };
        s.request("initialize", json!({ "capabilities": {} }));
        s.send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
        s
    }

    fn send(&mut self, v: Value) {
        let body = v.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let m = self.rx.recv_timeout(Duration::from_secs(60)).expect("an answer");
            if m["id"] == id {
                return m["result"].clone();
            }
        }
    }

    fn change(&mut self, uri: &str, version: i64, text: &str) {
        self.send(json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] } }));
    }

    /// Waits for the diagnostics of one version.
    fn diagnostics(&mut self, uri: &str, version: i64) {
        loop {
            let m = self.rx.recv_timeout(Duration::from_secs(60)).expect("diagnostics");
            if m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["version"] == version
            {
                return;
            }
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

fn pct(times: &mut [Duration], p: f64) -> f64 {
    times.sort();
    let i = ((times.len() as f64 - 1.0) * p).round() as usize;
    times[i].as_secs_f64() * 1e3
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = ["stdlib/resnest.res", "stdlib/resnet.res", "stdlib/densenet.res", "stdlib/dpn.res"];
    println!("{:<22} {:>9} {:>9} {:>9} {:>9} {:>11}", "file", "edit p50", "edit p95", "hover", "inlay", "resc check");
    let mut server = Server::start();
    for (k, file) in files.iter().enumerate() {
        let path = root.join(file);
        let uri = format!("file://{}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        server.send(json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": { "uri": uri, "languageId": "resc", "version": 0, "text": text } } }));
        server.diagnostics(&uri, 0);
        let mut edits = Vec::new();
        for v in 1..=300 {
            // Typing in a comment: the whole file is checked again each time.
            let edited = format!("{text}// edit {v}\n");
            let t = Instant::now();
            server.change(&uri, v, &edited);
            server.diagnostics(&uri, v);
            edits.push(t.elapsed());
        }
        let line = text.lines().position(|l| l.contains("layer") || l.contains("features")).unwrap_or(0);
        let mut hovers = Vec::new();
        let mut inlays = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            server.request(
                "textDocument/hover",
                json!({ "textDocument": {"uri": uri}, "position": {"line": line, "character": 6} }),
            );
            hovers.push(t.elapsed());
            let t = Instant::now();
            server.request(
                "textDocument/inlayHint",
                json!({ "textDocument": {"uri": uri},
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 9999, "character": 0}} }),
            );
            inlays.push(t.elapsed());
        }
        let mut checks = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let ok = Command::new(env!("CARGO_BIN_EXE_resc")).args(["check", path.to_str().unwrap()]).output().unwrap();
            assert!(ok.status.success());
            checks.push(t.elapsed());
        }
        let p50 = pct(&mut edits, 0.5);
        let check = pct(&mut checks, 0.5);
        println!(
            "{:<22} {:>6.1} ms {:>6.1} ms {:>6.2} ms {:>6.2} ms {:>8.1} ms  (edit/check {:.2}x)",
            file,
            p50,
            pct(&mut edits, 0.95),
            pct(&mut hovers, 0.5),
            pct(&mut inlays, 0.5),
            check,
            p50 / check
        );
        if k == 0 {
            let rss_100 = server.rss_kib();
            let t = Instant::now();
            for v in 301..=10_300 {
                server.change(&uri, v, &format!("{text}// edit {v}\n"));
                server.diagnostics(&uri, v);
            }
            let rss_10k = server.rss_kib();
            println!(
                "  resident memory after 300 edits {:.1} MiB, after 10,300 edits {:.1} MiB ({:+.1}%); 10,000 edits took {:.1} s",
                rss_100 as f64 / 1024.0,
                rss_10k as f64 / 1024.0,
                (rss_10k as f64 / rss_100 as f64 - 1.0) * 100.0,
                t.elapsed().as_secs_f64()
            );
        }
    }
    let _ = server.request("shutdown", Value::Null);
    server.send(json!({ "jsonrpc": "2.0", "method": "exit" }));
    let _ = server.child.wait();
}
