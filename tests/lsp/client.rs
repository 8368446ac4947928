//! An in-process LSP client over lsp-server's memory connection.

use std::thread::JoinHandle;
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value, json};

pub struct Client {
    conn: Connection,
    /// The server's end until the server runs.
    server_end: Option<Connection>,
    server: Option<JoinHandle<()>>,
    next_id: i32,
    /// Notifications received, oldest first.
    pub notes: Vec<Notification>,
    /// Methods of the requests the server sent.
    pub server_requests: Vec<String>,
}

const WAIT: Duration = Duration::from_secs(120);

impl Client {
    /// A server with its initialize handshake done.
    pub fn start(init_options: Value) -> Client {
        Self::start_with(json!({ "capabilities": {}, "initializationOptions": init_options }))
    }

    pub fn start_with(init_params: Value) -> Client {
        let mut c = Self::unstarted();
        c.run_server();
        let r = c.request("initialize", init_params);
        assert!(r["capabilities"].is_object(), "{r}");
        c.notify("initialized", json!({}));
        c
    }

    /// Messages sent before `run_server` are all queued, so the server takes them as one batch.
    pub fn unstarted() -> Client {
        let (client, server) = Connection::memory();
        Client {
            conn: client,
            server_end: Some(server),
            server: None,
            next_id: 1,
            notes: Vec::new(),
            server_requests: Vec::new(),
        }
    }

    pub fn run_server(&mut self) {
        let end = self.server_end.take().expect("server not started yet");
        self.server = Some(
            std::thread::Builder::new()
                .stack_size(256 << 20)
                .spawn(move || resc::lsp::serve(end).expect("serve"))
                .expect("thread"),
        );
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.conn.sender.send(Message::Notification(Notification::new(method.into(), params))).expect("send");
    }

    /// Send a request without waiting.
    pub fn send_request(&mut self, method: &str, params: Value) -> RequestId {
        let id = RequestId::from(self.next_id);
        self.next_id += 1;
        self.conn.sender.send(Message::Request(Request::new(id.clone(), method.into(), params))).expect("send");
        id
    }

    /// The response to a request, as `Ok(result)` or `Err(error)`; notifications on the way are kept.
    pub fn wait(&mut self, id: RequestId) -> Result<Value, Value> {
        loop {
            match self.conn.receiver.recv_timeout(WAIT).expect("the server answers") {
                Message::Response(r) if r.id == id => {
                    return r.response_result.map_err(|e| serde_json::to_value(e).unwrap());
                }
                Message::Notification(n) => self.notes.push(n),
                Message::Request(r) => self.server_requests.push(r.method),
                _ => {}
            }
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        match self.wait(id) {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "resc", "version": 1, "text": text } }),
        );
    }

    pub fn change(&mut self, uri: &str, version: i32, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
        );
    }

    /// The diagnostics last published for `uri`, after everything sent so far
    /// was handled (a request is answered only after the server caught up).
    pub fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        self.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
        self.notes
            .iter()
            .rev()
            .find(|n| n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri)
            .map(|n| n.params["diagnostics"].as_array().cloned().unwrap_or_default())
            .expect("diagnostics were published")
    }

    pub fn published_count(&self, uri: &str) -> usize {
        self.notes.iter().filter(|n| n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri).count()
    }

    pub fn at(uri: &str, line: u32, character: u32) -> Value {
        json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } })
    }

    pub fn shutdown(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        if let Some(h) = self.server.take() {
            h.join().expect("the server thread ends cleanly");
        }
    }
}
