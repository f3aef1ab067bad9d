//! The listener of the HTTP ports: each accepted connection is wrapped so
//! that the answers hyper sends by itself, for requests it cannot parse
//! (400 malformed, 414 URI too long, 431 headers too large: written before
//! any router or layer runs, with an empty body), carry a JSON error like
//! every other error of the API.
//!
//! hyper writes such an answer as one response head with
//! `connection: close` and `content-length: 0`, then closes the
//! connection. The wrapper recognises that head at the start of a write
//! and sends in its place the same status with `{"error", "code"}`. The
//! application's own error answers never look like that: the JSON error
//! layer gives every 4xx a body.

use crate::error::code_of_status;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections turn hyper's parse-error answers into
/// JSON errors.
pub struct JsonErrorListener(pub TcpListener);

impl axum::serve::Listener for JsonErrorListener {
    type Io = JsonErrorStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (
            JsonErrorStream {
                inner: io,
                pending: Vec::new(),
                sent: 0,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection: reads pass through; a parse-error answer is replaced by
/// `pending`, which is written out before anything else.
pub struct JsonErrorStream {
    inner: TcpStream,
    pending: Vec<u8>,
    sent: usize,
}

/// Why hyper refused a request, by the status of its automatic answer.
fn reason(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "the request is not valid HTTP/1.1 (request line or a header malformed)",
        414 => "the request target (path and query) is longer than 65,534 bytes",
        431 => "the request's headers are too large (more than 100 headers or about 400 KiB)",
        _ => return None,
    })
}

/// The JSON answer that replaces `head` if it is one of hyper's automatic
/// parse-error answers, with its status line and `date` kept.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let message = reason(status)?;
    let headers: Vec<&str> = lines.collect();
    let has = |h: &str| headers.iter().any(|l| l.eq_ignore_ascii_case(h));
    if !has("connection: close") || !has("content-length: 0") {
        return None;
    }
    let body = serde_json::json!({ "error": message, "code": code_of_status(status) }).to_string();
    let mut out = format!(
        "{status_line}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for h in headers
        .iter()
        .filter(|l| l.to_ascii_lowercase().starts_with("date:"))
    {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl JsonErrorStream {
    /// Writes what is pending; ready once nothing is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` as written if it starts with a parse-error answer, which
    /// is sent as its replacement instead; `None` to pass `buf` through.
    fn intercept(&mut self, buf: &[u8]) -> Option<usize> {
        if !buf.starts_with(b"HTTP/1.1 4") {
            return None;
        }
        let swap = replacement(buf)?;
        self.pending = swap;
        self.sent = 0;
        Some(buf.len())
    }
}

impl AsyncRead for JsonErrorStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for JsonErrorStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(n) = self.intercept(buf) {
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        // hyper writes an automatic answer's head as one piece.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(n) = self.intercept(first) {
                return Poll::Ready(Ok(n));
            }
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::replacement;

    #[test]
    fn hypers_automatic_answers_become_json_errors() {
        let head = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 11:14:08 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(head).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(
            head.contains("date: Mon, 07 Dec 2026 11:14:08 GMT"),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("65,534"), "{v}");
        assert!(v["code"].is_string(), "{v}");
    }

    #[test]
    fn other_answers_pass_through() {
        // A body, no close, another status: not hyper's automatic answer.
        for head in [
            &b"HTTP/1.1 404 Not Found\r\ncontent-length: 20\r\n\r\n{\"error\":\"x\"}"[..],
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close",
        ] {
            assert!(
                replacement(head).is_none(),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
