//! Reading server-sent event streams (the live routes): [`EventStream`]
//! parses `text/event-stream` as the WHATWG spec has it (fields `event`,
//! `data`, `id`, `retry`; comment lines; LF, CRLF or CR line ends) and
//! remembers the last `id`, so a caller can reconnect with it as
//! `Last-Event-ID`.

use crate::ClientError;
use std::time::Duration;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name (`message` when none was given).
    pub event: String,
    /// The `id:` of this event, when it had one.
    pub id: Option<String>,
    /// The `data:` lines joined by newlines.
    pub data: String,
}

/// The event parser, fed bytes as they come.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous byte was a CR (a following LF belongs to it).
    after_cr: bool,
    event: String,
    data: Option<String>,
    id: Option<String>,
    /// The last event id seen (kept across events, as the spec says).
    pub last_id: Option<String>,
    /// The last `retry:` the server asked for.
    pub retry: Option<Duration>,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(ev) = self.line_done(&String::from_utf8_lossy(&line)) {
                        out.push(ev);
                    }
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take();
            let event = std::mem::take(&mut self.event);
            let id = self.id.take();
            return data.map(|data| SseEvent {
                event: if event.is_empty() {
                    "message".into()
                } else {
                    event
                },
                id,
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "id" if !value.contains('\0') => {
                self.id = Some(value.to_string());
                self.last_id = Some(value.to_string());
            }
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        None
    }
}

/// An open event stream.
pub struct EventStream {
    pub(crate) base: String,
    pub(crate) resp: reqwest::Response,
    pub(crate) parser: SseParser,
    pub(crate) ready: std::collections::VecDeque<SseEvent>,
}

impl EventStream {
    /// The next event; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, ClientError> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Ok(Some(ev));
            }
            if !self.read_chunk().await? {
                return Ok(None);
            }
        }
    }

    /// Reads one chunk into the parser; false when the server closed the
    /// stream.
    async fn read_chunk(&mut self) -> Result<bool, ClientError> {
        let chunk = self
            .resp
            .chunk()
            .await
            .map_err(|source| ClientError::Unreachable {
                base: self.base.clone(),
                source,
            })?;
        match chunk {
            Some(bytes) => {
                self.ready.extend(self.parser.feed(&bytes));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Reads until the stream names the id it follows (a tael live
    /// stream's first block) or an event arrives (kept for
    /// [`EventStream::next`]); that id, if any.
    pub async fn started(&mut self) -> Result<Option<&str>, ClientError> {
        while self.parser.last_id.is_none() && self.ready.is_empty() {
            if !self.read_chunk().await? {
                break;
            }
        }
        Ok(self.last_id())
    }

    /// The id of the last event read (for `Last-Event-ID`).
    pub fn last_id(&self) -> Option<&str> {
        self.parser.last_id.as_deref()
    }

    /// The reconnect delay the server asked for.
    pub fn retry(&self) -> Option<Duration> {
        self.parser.retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_comments_and_line_ends() {
        let mut p = SseParser::default();
        let mut evs =
            p.feed(b"retry: 3000\n\n:heartbeat\n\nevent: span\nid: 7\ndata: {\"a\":1}\n\n");
        evs.extend(p.feed(b"event: gap\r\ndata: x\r\ndata: y\r\n\r\ndata: z\r"));
        evs.extend(p.feed(b"\r"));
        assert_eq!(p.retry, Some(Duration::from_secs(3)));
        assert_eq!(
            evs,
            vec![
                SseEvent {
                    event: "span".into(),
                    id: Some("7".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: "gap".into(),
                    id: None,
                    data: "x\ny".into()
                },
                SseEvent {
                    event: "message".into(),
                    id: None,
                    data: "z".into()
                },
            ]
        );
        assert_eq!(p.last_id.as_deref(), Some("7"));
    }

    #[test]
    fn an_event_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b"event: lo").is_empty());
        assert!(p.feed(b"g\nid: 1\ndata: {}").is_empty());
        let evs = p.feed(b"\n\n");
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].event, "log");
    }
}
