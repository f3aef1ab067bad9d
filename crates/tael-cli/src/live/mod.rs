//! `tael live`: a terminal UI over the REST API and the live span stream.
//! Screens: the traces feed (live, newest first, filterable, pausable),
//! services, a trace's waterfall (times to scale, critical path marked)
//! and a span's details (attributes, events, LLM call and its payloads
//! from the blob store, comments); comments can be added from the trace
//! and span screens. Keys are shown on the bottom line.
//!
//! The runner here owns the terminal and the network: a thread follows
//! `/api/v1/traces/live` (resuming with `Last-Event-ID` when the
//! connection drops) and sends what it reads to the UI loop, which feeds
//! keys, spans and answers to the pure [`app::App`] and carries out the
//! requests it returns.

pub mod app;
pub mod view;
pub mod waterfall;

use crate::client::CliError;
use crate::filters::SpanFilters;
use app::{App, Effect, Input, Key};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use std::sync::mpsc;
use std::time::Duration;
use tael_client::BlockingClient;
use tael_query::api::{NewComment, ServicesRequest, TraceCommentsRequest};
use tael_query::live::{LiveSpanFilter, TRACES_LIVE_ROUTE};
use tael_query::params::Params;
use tael_query::traces::{TraceLookup, TraceQuery};

/// Spans the feed starts with (the newest stored).
const FIRST_LOAD: usize = 200;
/// Silence after which the stream is resumed on a new connection.
const IDLE: Duration = Duration::from_secs(45);

fn key_of(e: &event::KeyEvent) -> Option<Key> {
    if e.kind == KeyEventKind::Release {
        return None;
    }
    Some(match e.code {
        KeyCode::Char('c') if e.modifiers.contains(KeyModifiers::CONTROL) => Key::CtrlC,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}

/// Follows the live stream, sending spans and stream notices to the UI
/// until the UI goes away.
fn follow(url: String, params: Params, tx: mpsc::Sender<Input>) {
    let client = match BlockingClient::new(&url) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Input::Stream(format!("cannot follow: {e}")));
            return;
        }
    };
    let mut last_id: Option<String> = None;
    loop {
        match client.live(TRACES_LIVE_ROUTE, &params, last_id.as_deref(), IDLE) {
            Ok(mut stream) => {
                if tx.send(Input::Stream("live".into())).is_err() {
                    return;
                }
                while let Ok(Some(ev)) = stream.next_event() {
                    let input = match ev.event.as_str() {
                        "gap" | "lagged" => {
                            Input::Stream(format!("live ({}: {})", ev.event, ev.data))
                        }
                        // The server stops: resume from the last id.
                        "end" => break,
                        "span" => match serde_json::from_str(&ev.data) {
                            Ok(span) => Input::Spans(vec![span]),
                            Err(e) => Input::Stream(format!("unreadable span: {e}")),
                        },
                        _ => continue,
                    };
                    if tx.send(input).is_err() {
                        return;
                    }
                }
                // The stream keeps the id of the last event it read.
                if let Some(id) = stream.last_id() {
                    last_id = Some(id.to_string());
                }
                if tx.send(Input::Stream("reconnecting".into())).is_err() {
                    return;
                }
            }
            Err(e) => {
                if tx
                    .send(Input::Stream(format!("reconnecting ({e})")))
                    .is_err()
                {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Carries out one request; its answer is the next input.
fn perform(client: &BlockingClient, effect: Effect) -> Input {
    let failed = |e: tael_client::ClientError| Input::Failed(e.to_string());
    match effect {
        Effect::LoadServices => match client.call(&ServicesRequest) {
            Ok(r) => Input::Services(r.services),
            Err(e) => failed(e),
        },
        Effect::LoadTrace(id) => {
            let lookup = match TraceLookup::new(&id, false) {
                Ok(l) => l,
                Err(e) => return Input::Failed(e.to_string()),
            };
            let spans = match client.call(&lookup) {
                Ok(r) => r.spans,
                Err(e) => return failed(e),
            };
            let comments = match client.call(&TraceCommentsRequest {
                trace_id: id.clone(),
            }) {
                Ok(r) => r.comments,
                Err(e) => return failed(e),
            };
            Input::Trace {
                trace_id: id,
                spans,
                comments,
            }
        }
        Effect::LoadPayload { sha256, title } => match client.blob(&sha256) {
            Ok(Some(bytes)) => Input::Payload {
                title,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            },
            Ok(None) => Input::Failed(format!("payload {sha256} is not stored")),
            Err(e) => failed(e),
        },
        Effect::AddComment {
            trace_id,
            span_id,
            body,
        } => {
            let req = NewComment {
                trace_id,
                body,
                author: Some(std::env::var("USER").unwrap_or_else(|_| "tael live".into())),
                span_id,
            };
            match client.call(&req) {
                Ok(r) => Input::CommentAdded(r.comment),
                Err(e) => failed(e),
            }
        }
    }
}

/// The newest stored spans that pass the filters (oldest first).
fn first_load(client: &BlockingClient, q: &TraceQuery) -> Input {
    let mut q = q.clone();
    q.limit = FIRST_LOAD;
    match client.call(&q) {
        Ok(r) => Input::Spans(r.spans.into_iter().rev().map(|h| h.item).collect()),
        Err(e) => Input::Failed(e.to_string()),
    }
}

pub fn run(url: &str, filters: &SpanFilters) -> Result<(), CliError> {
    let query = filters.query()?;
    let live =
        LiveSpanFilter::from_query(query.clone()).map_err(|e| CliError::usage(e.to_string()))?;
    let client = BlockingClient::with_timeout(url, Duration::from_secs(10))?;
    let (tx, rx) = mpsc::channel();
    let mut app = App::default();
    app.update(first_load(&client, &query));
    {
        let (url, params, tx) = (url.to_string(), live.to_params(), tx.clone());
        std::thread::spawn(move || follow(url, params, tx));
    }
    let mut terminal =
        ratatui::try_init().map_err(|e| CliError::other(format!("terminal: {e}")))?;
    let result = (|| -> std::io::Result<()> {
        while !app.quit {
            terminal.draw(|f| view::draw(f, &app))?;
            let mut inputs = Vec::new();
            if event::poll(Duration::from_millis(100))? {
                // A resize needs no input: the next draw uses the new size.
                if let Event::Key(k) = event::read()? {
                    inputs.extend(key_of(&k).map(Input::Key));
                }
            }
            inputs.extend(rx.try_iter());
            for input in inputs {
                let mut pending = app.update(input);
                while let Some(effect) = pending.pop() {
                    pending.extend(app.update(perform(&client, effect)));
                }
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result.map_err(|e| CliError::other(format!("terminal: {e}")))
}
