//! JSON-RPC over stdio that survives bad input. lsp-server's own stdio reader
//! ends the connection on the first malformed message; an editor's server must
//! instead answer it with a JSON-RPC error and read on.

use std::io::{self, BufRead, Read, Write};
use std::thread;

use crossbeam_channel::{Sender, bounded, unbounded};
use lsp_server::{Connection, Message};
use serde_json::json;

/// A larger message is refused without reading it into memory.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

enum Out {
    Msg(Message),
    /// An error reply to something that was not a valid request (id null).
    Raw(String),
}

pub struct Threads {
    reader: thread::JoinHandle<()>,
    writer: thread::JoinHandle<io::Result<()>>,
}

impl Threads {
    pub fn join(self) {
        let _ = self.reader.join();
        let _ = self.writer.join();
    }
}

/// A connection over the process's stdin and stdout.
pub fn stdio() -> (Connection, Threads) {
    let (to_writer, writer_rx) = unbounded::<Out>();
    let (to_server, server_rx) = bounded::<Message>(0);
    let (server_tx, from_server) = unbounded::<Message>();

    let forward = to_writer.clone();
    let forwarder = thread::spawn(move || {
        for m in from_server {
            if forward.send(Out::Msg(m)).is_err() {
                break;
            }
        }
    });
    let writer = thread::spawn(move || {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        for item in writer_rx {
            match item {
                Out::Msg(m) => m.write(&mut out)?,
                Out::Raw(text) => write_frame(&mut out, &text)?,
            }
        }
        let _ = forwarder.join();
        Ok(())
    });
    let reader = thread::spawn(move || {
        let stdin = io::stdin();
        read_loop(&mut stdin.lock(), &to_server, &to_writer);
    });
    (Connection { sender: server_tx, receiver: server_rx }, Threads { reader, writer })
}

fn read_loop(input: &mut impl BufRead, to_server: &Sender<Message>, to_writer: &Sender<Out>) {
    loop {
        let body = match read_frame(input) {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(Frame::Bad(why)) => {
                let _ = to_writer.send(Out::Raw(error_reply(-32700, &why)));
                continue;
            }
            Err(Frame::Closed) => return,
        };
        match parse(&body) {
            Ok(msg) => {
                let exit = matches!(&msg, Message::Notification(n) if n.method == "exit");
                if to_server.send(msg).is_err() || exit {
                    return;
                }
            }
            Err(reply) => {
                let _ = to_writer.send(Out::Raw(reply));
            }
        }
    }
}

enum Frame {
    /// The stream is gone.
    Closed,
    /// This message is unusable; the stream goes on after it.
    Bad(String),
}

/// One `Content-Length` framed message. Header lines it does not know are
/// skipped; a frame without a usable length is reported and skipped.
fn read_frame(input: &mut impl BufRead) -> Result<Option<Vec<u8>>, Frame> {
    let mut length: Option<usize> = None;
    let mut bad_length = None;
    let mut saw_header = false;
    loop {
        let mut line = Vec::new();
        let n = input.by_ref().take(8192).read_until(b'\n', &mut line).map_err(|_| Frame::Closed)?;
        if n == 0 {
            return if saw_header { Err(Frame::Closed) } else { Ok(None) };
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !saw_header {
                continue;
            }
            break;
        }
        saw_header = true;
        if let Some((name, value)) = text.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            match value.trim().parse::<usize>() {
                Ok(v) => length = Some(v),
                Err(_) => bad_length = Some(value.trim().to_string()),
            }
        }
    }
    let Some(len) = length else {
        return Err(Frame::Bad(match bad_length {
            Some(v) => format!("malformed Content-Length `{v}`"),
            None => "a message without Content-Length".into(),
        }));
    };
    if len > MAX_MESSAGE_BYTES {
        // Skip the body without holding it.
        io::copy(&mut input.by_ref().take(len as u64), &mut io::sink()).map_err(|_| Frame::Closed)?;
        return Err(Frame::Bad(format!("a message of {len} bytes (the limit is {MAX_MESSAGE_BYTES})")));
    }
    let mut body = vec![0; len];
    input.read_exact(&mut body).map_err(|_| Frame::Closed)?;
    Ok(Some(body))
}

/// A message, or the error reply that a bad one deserves.
fn parse(body: &[u8]) -> Result<Message, String> {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(error_reply(-32700, &format!("not JSON: {e}"))),
    };
    let id = value.get("id").cloned();
    serde_json::from_value::<Message>(value).map_err(|e| {
        let mut reply = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": format!("not a JSON-RPC message: {e}")}});
        if let Some(id) = id.filter(|i| i.is_number() || i.is_string()) {
            reply["id"] = id;
        }
        reply.to_string()
    })
}

fn error_reply(code: i32, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}).to_string()
}

fn write_frame(out: &mut impl Write, text: &str) -> io::Result<()> {
    write!(out, "Content-Length: {}\r\n\r\n", text.len())?;
    out.write_all(text.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn bad_frames_are_answered_and_skipped() {
        let good = r#"{"jsonrpc":"2.0","id":7,"method":"shutdown"}"#;
        let input = format!(
            "{}{}Content-Length: abc\r\n\r\n{}{}",
            frame("{not json"),
            frame(r#"{"jsonrpc":"2.0","id":3}"#),
            frame(r#"[1,2]"#),
            frame(good)
        );
        let (to_server, server_rx) = unbounded();
        let (to_writer, writer_rx) = unbounded();
        read_loop(&mut input.as_bytes(), &to_server, &to_writer);
        let msgs: Vec<Message> = server_rx.try_iter().collect();
        assert_eq!(msgs.len(), 1, "only the good message reaches the server");
        let replies: Vec<String> = writer_rx
            .try_iter()
            .map(|o| match o {
                Out::Raw(s) => s,
                Out::Msg(_) => panic!("no message"),
            })
            .collect();
        assert_eq!(replies.len(), 4, "{replies:?}");
        assert!(replies[0].contains("-32700"), "{}", replies[0]);
        assert!(replies[1].contains("\"id\":3") && replies[1].contains("-32600"), "{}", replies[1]);
    }
}
