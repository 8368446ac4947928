//! `resc lsp`: a language server over stdio (lsp-server, synchronous).
//!
//! Messages are handled in batches: every message already queued is taken at
//! once, changed documents are analysed once per batch (before any request in
//! it is answered, so answers see the newest text), then diagnostics are
//! published. A panic in an analysis or a handler is caught and reported; the
//! server goes on.

mod analysis;
mod complete;
mod describe;
mod diagnostics;
mod facts;
mod hover;
mod inlay;
mod locate;
mod navigate;
mod position;
mod symbols;
mod transport;
mod walk;

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CompletionOptions, CompletionParams, Diagnostic,
    DocumentFormattingParams, DocumentSymbolParams, GotoDefinitionParams, Hover, HoverContents, HoverParams,
    HoverProviderCapability, InitializeParams, InlayHintParams, MarkupContent, MarkupKind, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, ReferenceParams, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextEdit, Url, WorkspaceEdit,
};
use serde_json::Value;

use analysis::{Analysis, Overlay};
use position::{Encoding, LineIndex};

/// The server's stack: the front end recurses over the syntax tree, and a
/// half-typed buffer can nest deeply.
const STACK_BYTES: usize = 256 << 20;

/// Serve on stdin/stdout until the client says `exit`.
pub fn run_stdio() -> std::io::Result<()> {
    let (conn, threads) = transport::stdio();
    let server = std::thread::Builder::new().stack_size(STACK_BYTES).spawn(move || serve(conn))?;
    let result = server.join().unwrap_or(Ok(()));
    threads.join();
    result
}

/// Serve on a connection: the stdio one, or an in-memory one in tests.
pub fn serve(conn: Connection) -> std::io::Result<()> {
    let mut server = Server::new(conn);
    server.run();
    Ok(())
}

struct Doc {
    text: String,
    version: i32,
    analysis: Option<Analysis>,
    dirty: bool,
}

struct Server {
    conn: Connection,
    enc: Encoding,
    inlay_hints: bool,
    docs: HashMap<Url, Doc>,
    /// URIs with diagnostics published last time, so emptied ones get cleared.
    published: HashSet<Url>,
    initialized: bool,
    shutting_down: bool,
    /// The client can be asked to fetch inlay hints again.
    inlay_refresh: bool,
    requests_sent: i32,
}

impl Server {
    fn new(conn: Connection) -> Self {
        Server {
            conn,
            enc: Encoding::Utf16,
            inlay_hints: true,
            docs: HashMap::new(),
            published: HashSet::new(),
            initialized: false,
            shutting_down: false,
            inlay_refresh: false,
            requests_sent: 0,
        }
    }

    fn run(&mut self) {
        while let Ok(first) = self.conn.receiver.recv() {
            let mut batch = vec![first];
            batch.extend(self.conn.receiver.try_iter());
            for msg in batch {
                match msg {
                    Message::Request(r) => self.request(r),
                    Message::Notification(n) => {
                        if n.method == note::Exit::METHOD {
                            return;
                        }
                        self.notification(n);
                    }
                    Message::Response(_) => {}
                }
            }
            self.refresh();
        }
    }

    fn send(&self, msg: impl Into<Message>) {
        let _ = self.conn.sender.send(msg.into());
    }

    fn request(&mut self, r: Request) {
        let id = r.id.clone();
        if r.method == req::Initialize::METHOD {
            let result = self.initialize(r.params);
            self.initialized = true;
            return self.send(Response::new_ok(id, result));
        }
        if !self.initialized {
            return self.send(Response::new_err(id, ErrorCode::ServerNotInitialized as i32, "not initialized".into()));
        }
        if r.method == req::Shutdown::METHOD {
            self.shutting_down = true;
            return self.send(Response::new_ok(id, Value::Null));
        }
        if self.shutting_down {
            return self.send(Response::new_err(id, ErrorCode::InvalidRequest as i32, "shutting down".into()));
        }
        self.refresh();
        let method = r.method.clone();
        let answer = catch_unwind(AssertUnwindSafe(|| self.answer(&r.method, r.params)));
        let response = match answer {
            Ok(Ok(v)) => Response::new_ok(id, v),
            Ok(Err((code, msg))) => Response::new_err(id, code as i32, msg),
            Err(_) => Response::new_err(id, ErrorCode::InternalError as i32, format!("resc failed on {method}")),
        };
        self.send(response);
    }

    fn initialize(&mut self, params: Value) -> Value {
        let params: Option<InitializeParams> = serde_json::from_value(params).ok();
        let offers_utf8 = params
            .as_ref()
            .and_then(|p| p.capabilities.general.as_ref()?.position_encodings.clone())
            .is_some_and(|list| list.contains(&PositionEncodingKind::UTF8));
        self.enc = if offers_utf8 { Encoding::Utf8 } else { Encoding::Utf16 };
        self.inlay_refresh = params
            .as_ref()
            .and_then(|p| p.capabilities.workspace.as_ref()?.inlay_hint.as_ref()?.refresh_support)
            .unwrap_or(false);
        if let Some(opts) = params.as_ref().and_then(|p| p.initialization_options.as_ref()) {
            self.read_settings(opts);
        }
        let caps = ServerCapabilities {
            position_encoding: Some(match self.enc {
                Encoding::Utf8 => PositionEncodingKind::UTF8,
                Encoding::Utf16 => PositionEncodingKind::UTF16,
            }),
            text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            inlay_hint_provider: Some(OneOf::Left(true)),
            definition_provider: Some(OneOf::Left(true)),
            references_provider: Some(OneOf::Left(true)),
            completion_provider: Some(CompletionOptions {
                trigger_characters: Some(vec!["(".into(), ",".into(), " ".into()]),
                ..Default::default()
            }),
            document_symbol_provider: Some(OneOf::Left(true)),
            code_action_provider: Some(lsp_types::CodeActionProviderCapability::Simple(true)),
            document_formatting_provider: Some(OneOf::Left(true)),
            ..Default::default()
        };
        serde_json::json!({
            "capabilities": caps,
            "serverInfo": ServerInfo { name: "resc".into(), version: Some(env!("CARGO_PKG_VERSION").into()) },
        })
    }

    /// `{"inlayHints": false}` (initialization options) or
    /// `{"resc": {"inlayHints": {"enable": false}}}` (VS Code settings).
    fn read_settings(&mut self, v: &Value) {
        let v = v.get("resc").unwrap_or(v);
        match v.get("inlayHints") {
            Some(Value::Bool(b)) => self.inlay_hints = *b,
            Some(o) => {
                if let Some(b) = o.get("enable").and_then(Value::as_bool) {
                    self.inlay_hints = b;
                }
            }
            None => {}
        }
    }

    fn notification(&mut self, n: Notification) {
        if !self.initialized {
            return;
        }
        match n.method.as_str() {
            note::DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params) {
                    let d = p.text_document;
                    self.docs
                        .insert(d.uri.clone(), Doc { text: d.text, version: d.version, analysis: None, dirty: true });
                    self.touch(&d.uri);
                }
            }
            note::DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params) {
                    let uri = p.text_document.uri;
                    // Full sync: the last change holds the whole text.
                    if let (Some(doc), Some(change)) = (self.docs.get_mut(&uri), p.content_changes.into_iter().last()) {
                        doc.text = change.text;
                        doc.version = p.text_document.version;
                        self.touch(&uri);
                    }
                }
            }
            note::DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params) {
                    self.docs.remove(&p.text_document.uri);
                    self.touch(&p.text_document.uri);
                }
            }
            note::DidChangeConfiguration::METHOD => {
                let before = self.inlay_hints;
                if let Some(settings) = n.params.get("settings") {
                    self.read_settings(&settings.clone());
                }
                // Hints on screen would otherwise stay until the next edit.
                if before != self.inlay_hints && self.inlay_refresh {
                    self.requests_sent += 1;
                    let id = lsp_server::RequestId::from(format!("resc-{}", self.requests_sent));
                    self.send(Request::new(id, req::InlayHintRefreshRequest::METHOD.into(), Value::Null));
                }
            }
            _ => {}
        }
    }

    /// A document changed: it and every open document that loaded it need a new analysis.
    fn touch(&mut self, uri: &Url) {
        for (u, doc) in &mut self.docs {
            if u == uri || doc.analysis.as_ref().is_some_and(|a| a.file_of_uri(uri).is_some()) {
                doc.dirty = true;
            }
        }
    }

    fn overlay(&self) -> Overlay {
        self.docs.iter().filter_map(|(u, d)| Some((u.to_file_path().ok()?, d.text.clone()))).collect()
    }

    /// Analyse what changed, then publish diagnostics if anything did.
    fn refresh(&mut self) {
        let dirty: Vec<Url> = self.docs.iter().filter(|(_, d)| d.dirty).map(|(u, _)| u.clone()).collect();
        let closed_any = self.published.iter().any(|u| !self.docs.contains_key(u));
        if dirty.is_empty() && !closed_any {
            return;
        }
        let overlay = self.overlay();
        for uri in dirty {
            let text = self.docs[&uri].text.clone();
            let result = catch_unwind(AssertUnwindSafe(|| analysis::analyze(&uri, &text, &overlay)));
            let doc = self.docs.get_mut(&uri).expect("listed");
            doc.dirty = false;
            doc.analysis = result.ok();
            if doc.analysis.is_none() {
                eprintln!("resc lsp: the analysis of {uri} failed; this is a bug in resc");
            }
        }
        self.publish();
    }

    fn publish(&mut self) {
        let mut all: HashMap<Url, Vec<Diagnostic>> = HashMap::new();
        for (uri, doc) in &self.docs {
            all.entry(uri.clone()).or_default();
            let Some(a) = &doc.analysis else { continue };
            for (file, diags) in diagnostics::by_file(a, self.enc) {
                // An open document shows its own analysis's errors only.
                if &file != uri && self.docs.contains_key(&file) {
                    continue;
                }
                let slot = all.entry(file).or_default();
                for d in diags {
                    if !slot.contains(&d) {
                        slot.push(d);
                    }
                }
            }
        }
        for uri in std::mem::take(&mut self.published) {
            all.entry(uri).or_default();
        }
        for (uri, diagnostics) in all {
            if !diagnostics.is_empty() {
                self.published.insert(uri.clone());
            }
            let version = self.docs.get(&uri).map(|d| d.version);
            let params = PublishDiagnosticsParams { uri, diagnostics, version };
            self.send(Notification::new(note::PublishDiagnostics::METHOD.into(), params));
        }
    }

    fn doc(&self, uri: &Url) -> Result<(&Doc, &Analysis), (ErrorCode, String)> {
        let doc = self.docs.get(uri).ok_or((ErrorCode::InvalidParams, format!("{uri} is not open")))?;
        let a = doc.analysis.as_ref().ok_or((ErrorCode::InternalError, "no analysis".to_string()))?;
        Ok((doc, a))
    }

    fn offset(&self, a: &Analysis, doc: &Doc, pos: lsp_types::Position) -> usize {
        debug_assert_eq!(a.text(a.root()).len(), doc.text.len());
        a.lines(a.root()).offset(&doc.text, pos, self.enc)
    }

    fn answer(&self, method: &str, params: Value) -> Result<Value, (ErrorCode, String)> {
        fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, (ErrorCode, String)> {
            serde_json::from_value(v).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
        }
        let json = |v: Result<Value, serde_json::Error>| v.map_err(|e| (ErrorCode::InternalError, e.to_string()));
        match method {
            req::HoverRequest::METHOD => {
                let p: HoverParams = parse(params)?;
                let (doc, a) = self.doc(&p.text_document_position_params.text_document.uri)?;
                let off = self.offset(a, doc, p.text_document_position_params.position);
                let h = hover::hover(a, off).map(|(md, span)| Hover {
                    contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: md }),
                    range: Some(a.lines(a.root()).range(&doc.text, span.start, span.end, self.enc)),
                });
                json(serde_json::to_value(h))
            }
            req::InlayHintRequest::METHOD => {
                let p: InlayHintParams = parse(params)?;
                let (_, a) = self.doc(&p.text_document.uri)?;
                let hints = if self.inlay_hints { inlay::hints(a, p.range, self.enc) } else { Vec::new() };
                json(serde_json::to_value(hints))
            }
            req::GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = parse(params)?;
                let (doc, a) = self.doc(&p.text_document_position_params.text_document.uri)?;
                let off = self.offset(a, doc, p.text_document_position_params.position);
                json(serde_json::to_value(navigate::definition(a, off, self.enc)))
            }
            req::References::METHOD => {
                let p: ReferenceParams = parse(params)?;
                let (doc, a) = self.doc(&p.text_document_position.text_document.uri)?;
                let off = self.offset(a, doc, p.text_document_position.position);
                let Some(name) = navigate::block_name_at(a, off) else { return Ok(Value::Null) };
                let mut locs = Vec::new();
                // Every open document's program may use the block.
                for other in self.docs.values().filter_map(|d| d.analysis.as_ref()) {
                    for l in navigate::references(other, &name, p.context.include_declaration, self.enc) {
                        if !locs.contains(&l) {
                            locs.push(l);
                        }
                    }
                }
                json(serde_json::to_value(locs))
            }
            req::Completion::METHOD => {
                let p: CompletionParams = parse(params)?;
                let (doc, a) = self.doc(&p.text_document_position.text_document.uri)?;
                let off = self.offset(a, doc, p.text_document_position.position);
                json(serde_json::to_value(complete::complete(a, &doc.text, off)))
            }
            req::DocumentSymbolRequest::METHOD => {
                let p: DocumentSymbolParams = parse(params)?;
                let (_, a) = self.doc(&p.text_document.uri)?;
                json(serde_json::to_value(symbols::symbols(a, self.enc)))
            }
            req::CodeActionRequest::METHOD => {
                let p: CodeActionParams = parse(params)?;
                let (doc, a) = self.doc(&p.text_document.uri)?;
                json(serde_json::to_value(self.code_actions(&p.text_document.uri, doc, a, p.range)))
            }
            req::Formatting::METHOD => {
                let p: DocumentFormattingParams = parse(params)?;
                let (doc, _) = self.doc(&p.text_document.uri)?;
                json(serde_json::to_value(format_edits(&doc.text, self.enc)))
            }
            _ => Err((ErrorCode::MethodNotFound, format!("resc lsp does not handle {method}"))),
        }
    }

    /// Each "did you mean" in the range, as an edit that replaces the span.
    fn code_actions(&self, uri: &Url, doc: &Doc, a: &Analysis, range: lsp_types::Range) -> Vec<CodeActionOrCommand> {
        let lines = a.lines(a.root());
        let lo = lines.offset(&doc.text, range.start, self.enc);
        let hi = lines.offset(&doc.text, range.end, self.enc);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let published = diagnostics::by_file(a, self.enc).remove(uri).unwrap_or_default();
        for d in &a.diags {
            let Some((span, replacement)) = d.suggestion() else { continue };
            if span.file != a.root() || span.end < lo || span.start > hi {
                continue;
            }
            // The same fix reached through several models is offered once.
            if !seen.insert((span, replacement)) {
                continue;
            }
            let edit_range = lines.range(&doc.text, span.start, span.end, self.enc);
            let edit = TextEdit::new(edit_range, replacement.to_string());
            let diag = published.iter().find(|p| p.range == edit_range && p.code.is_some()).cloned();
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("Replace with `{replacement}`"),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: diag.map(|d| vec![d]),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                    ..Default::default()
                }),
                is_preferred: Some(true),
                ..Default::default()
            }));
        }
        out
    }
}

/// The whole document replaced by its formatted text; nothing when it is
/// formatted already or does not parse.
fn format_edits(text: &str, enc: Encoding) -> Option<Vec<TextEdit>> {
    let formatted = crate::fmt::format_source(text).ok()?;
    if formatted == text {
        return Some(Vec::new());
    }
    let idx = LineIndex::new(text);
    let end = idx.position(text, text.len(), enc);
    Some(vec![TextEdit::new(lsp_types::Range::new(lsp_types::Position::new(0, 0), end), formatted)])
}
