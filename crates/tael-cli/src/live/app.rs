//! The state of `tael live` and how it changes: a pure state machine.
//! [`App::update`] takes one [`Input`] (a key, a span from the live
//! stream, an answer from the server) and returns the [`Effect`]s (server
//! requests) the runner must carry out; their answers come back as
//! inputs. Nothing here touches the terminal or the network, so every
//! screen can be driven and rendered in tests.

use super::waterfall::Waterfall;
use std::collections::VecDeque;
use tael_core::llm::payloads::PayloadRef;
use tael_core::model::{ServiceInfo, Span, TraceComment};

/// Spans the feed keeps (newest first).
pub const FEED_CAP: usize = 1000;

/// A key, as the app sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Up,
    Down,
    Backspace,
    CtrlC,
}

/// What happens to the app.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Key(Key),
    /// Spans stored just now (the live stream) or recently (the first
    /// load), newest last.
    Spans(Vec<Span>),
    /// The stream's state in words (connected, reconnecting, missed N).
    Stream(String),
    Services(Vec<ServiceInfo>),
    Trace {
        trace_id: String,
        spans: Vec<Span>,
        comments: Vec<TraceComment>,
    },
    Payload {
        title: String,
        text: String,
    },
    CommentAdded(TraceComment),
    /// A request failed.
    Failed(String),
}

/// A request to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadServices,
    LoadTrace(String),
    LoadPayload {
        sha256: String,
        title: String,
    },
    AddComment {
        trace_id: String,
        span_id: Option<String>,
        body: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Feed,
    Services,
    Trace,
    Span,
}

/// What typed text is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typing {
    Filter,
    Comment,
}

/// An open trace.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTrace {
    pub trace_id: String,
    pub spans: Vec<Span>,
    pub waterfall: Waterfall,
    pub comments: Vec<TraceComment>,
    /// The selected waterfall row.
    pub selected: usize,
    /// The payload shown in the span view, if one is open.
    pub payload: Option<(String, String)>,
    /// Which payload of the span `v` opens next.
    pub next_payload: usize,
}

impl OpenTrace {
    /// The span of the selected row.
    pub fn selected_span(&self) -> Option<&Span> {
        let row = self.waterfall.rows.get(self.selected)?;
        self.spans.get(row.span)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub screen: Screen,
    /// Newest first.
    pub feed: VecDeque<Span>,
    pub feed_selected: usize,
    pub paused: bool,
    /// Client-side filter of the feed: a substring of the service,
    /// operation or trace id.
    pub filter: String,
    pub typing: Option<(Typing, String)>,
    pub services: Vec<ServiceInfo>,
    pub services_selected: usize,
    pub trace: Option<OpenTrace>,
    /// The last thing worth telling (errors, stream state).
    pub status: String,
    pub quit: bool,
}

impl Default for App {
    fn default() -> Self {
        App {
            screen: Screen::Feed,
            feed: VecDeque::new(),
            feed_selected: 0,
            paused: false,
            filter: String::new(),
            typing: None,
            services: Vec::new(),
            services_selected: 0,
            trace: None,
            status: "connecting".into(),
            quit: false,
        }
    }
}

fn step(sel: usize, len: usize, down: bool) -> usize {
    match (down, len) {
        (_, 0) => 0,
        (true, n) => (sel + 1).min(n - 1),
        (false, _) => sel.saturating_sub(1),
    }
}

impl App {
    /// The feed rows the filter lets through.
    pub fn visible_feed(&self) -> Vec<&Span> {
        let f = self.filter.as_str();
        self.feed
            .iter()
            .filter(|s| {
                f.is_empty()
                    || s.service.contains(f)
                    || s.operation.contains(f)
                    || s.trace_id.starts_with(f)
            })
            .collect()
    }

    /// The payloads of the selected span, in the order `v` shows them.
    pub fn payloads(&self) -> Vec<PayloadRef> {
        self.trace
            .as_ref()
            .and_then(|t| t.selected_span())
            .and_then(|s| s.llm.as_ref())
            .map(|l| l.payloads.clone())
            .unwrap_or_default()
    }

    pub fn update(&mut self, input: Input) -> Vec<Effect> {
        match input {
            Input::Key(k) => return self.key(k),
            Input::Spans(spans) => {
                if !self.paused {
                    for s in spans {
                        self.feed.push_front(s);
                        if self.feed_selected > 0 {
                            // Keep the selection on the same span.
                            self.feed_selected += 1;
                        }
                    }
                    self.feed.truncate(FEED_CAP);
                    self.feed_selected = self.feed_selected.min(FEED_CAP - 1);
                }
            }
            Input::Stream(s) => self.status = s,
            Input::Services(list) => {
                self.services = list;
                self.services_selected = self
                    .services_selected
                    .min(self.services.len().saturating_sub(1));
            }
            Input::Trace {
                trace_id,
                spans,
                comments,
            } => {
                let waterfall = Waterfall::new(&spans);
                self.trace = Some(OpenTrace {
                    trace_id,
                    spans,
                    waterfall,
                    comments,
                    selected: 0,
                    payload: None,
                    next_payload: 0,
                });
                self.screen = Screen::Trace;
            }
            Input::Payload { title, text } => {
                if let Some(t) = self.trace.as_mut() {
                    t.payload = Some((title, text));
                }
            }
            Input::CommentAdded(c) => {
                if let Some(t) = self.trace.as_mut().filter(|t| t.trace_id == c.trace_id) {
                    t.comments.push(c);
                }
                self.status = "comment added".into();
            }
            Input::Failed(why) => self.status = format!("error: {why}"),
        }
        Vec::new()
    }

    fn key(&mut self, k: Key) -> Vec<Effect> {
        if k == Key::CtrlC {
            self.quit = true;
            return Vec::new();
        }
        if let Some((what, mut text)) = self.typing.take() {
            return self.typed(what, &mut text, k);
        }
        match (k, self.screen) {
            (Key::Char('q'), _) => self.quit = true,
            (Key::Char('1'), _) => self.screen = Screen::Feed,
            (Key::Char('2'), _) => {
                self.screen = Screen::Services;
                return vec![Effect::LoadServices];
            }
            (Key::Esc, Screen::Span) => match self.trace.as_mut().and_then(|t| t.payload.take()) {
                Some(_) => {}
                None => self.screen = Screen::Trace,
            },
            (Key::Esc, Screen::Trace) => self.screen = Screen::Feed,
            (Key::Esc, Screen::Services) => self.screen = Screen::Feed,
            (Key::Esc, Screen::Feed) => self.filter.clear(),
            (Key::Char('j') | Key::Down, s) | (Key::Char('k') | Key::Up, s) => {
                let down = matches!(k, Key::Char('j') | Key::Down);
                match s {
                    Screen::Feed => {
                        let n = self.visible_feed().len();
                        self.feed_selected = step(self.feed_selected, n, down);
                    }
                    Screen::Services => {
                        self.services_selected =
                            step(self.services_selected, self.services.len(), down);
                    }
                    Screen::Trace | Screen::Span => {
                        if let Some(t) = self.trace.as_mut() {
                            t.selected = step(t.selected, t.waterfall.rows.len(), down);
                            t.payload = None;
                            t.next_payload = 0;
                        }
                    }
                }
            }
            (Key::Char(' '), Screen::Feed) => {
                self.paused = !self.paused;
                self.status = if self.paused { "paused" } else { "live" }.into();
            }
            (Key::Char('/'), Screen::Feed) => {
                self.typing = Some((Typing::Filter, self.filter.clone()));
            }
            (Key::Enter, Screen::Feed) => {
                let feed = self.visible_feed();
                if let Some(s) = feed.get(self.feed_selected) {
                    return vec![Effect::LoadTrace(s.trace_id.clone())];
                }
            }
            (Key::Enter, Screen::Services) => {
                if let Some(s) = self.services.get(self.services_selected) {
                    self.filter = s.name.clone();
                    self.feed_selected = 0;
                    self.screen = Screen::Feed;
                }
            }
            (Key::Enter, Screen::Trace)
                if self
                    .trace
                    .as_ref()
                    .and_then(|t| t.selected_span())
                    .is_some() =>
            {
                self.screen = Screen::Span;
            }
            (Key::Char('c'), Screen::Trace | Screen::Span) if self.trace.is_some() => {
                self.typing = Some((Typing::Comment, String::new()));
            }
            (Key::Char('v'), Screen::Span) => return self.open_next_payload(),
            _ => {}
        }
        Vec::new()
    }

    fn open_next_payload(&mut self) -> Vec<Effect> {
        let payloads = self.payloads();
        let Some(t) = self.trace.as_mut() else {
            return Vec::new();
        };
        if payloads.is_empty() {
            self.status = "this span has no stored payloads".into();
            return Vec::new();
        }
        let p = &payloads[t.next_payload % payloads.len()];
        t.next_payload = (t.next_payload + 1) % payloads.len();
        vec![Effect::LoadPayload {
            sha256: p.sha256.clone(),
            title: format!("{} ({}, {} bytes)", p.kind, p.key, p.bytes),
        }]
    }

    fn typed(&mut self, what: Typing, text: &mut String, k: Key) -> Vec<Effect> {
        match k {
            Key::Esc => return Vec::new(),
            Key::Enter => match what {
                Typing::Filter => {
                    self.filter = std::mem::take(text);
                    self.feed_selected = 0;
                    return Vec::new();
                }
                Typing::Comment => {
                    let body = text.trim().to_string();
                    let Some(t) = self.trace.as_ref() else {
                        return Vec::new();
                    };
                    if body.is_empty() {
                        self.status = "empty comment not sent".into();
                        return Vec::new();
                    }
                    let span_id = match self.screen {
                        Screen::Span | Screen::Trace => {
                            t.selected_span().map(|s| s.span_id.clone())
                        }
                        _ => None,
                    };
                    return vec![Effect::AddComment {
                        trace_id: t.trace_id.clone(),
                        span_id,
                        body,
                    }];
                }
            },
            Key::Backspace => {
                text.pop();
            }
            Key::Char(c) => text.push(c),
            _ => {}
        }
        self.typing = Some((what, std::mem::take(text)));
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn span(trace: &str, id: &str, service: &str, op: &str) -> Span {
        Span {
            trace_id: trace.into(),
            span_id: id.into(),
            service: service.into(),
            operation: op.into(),
            start_ns: 1_000,
            end_ns: 2_000_000,
            status: "ok".into(),
            ..Default::default()
        }
    }

    fn keys(app: &mut App, keys: &str) -> Vec<Effect> {
        keys.chars()
            .flat_map(|c| app.update(Input::Key(Key::Char(c))))
            .collect()
    }

    #[test]
    fn feed_filters_pauses_and_opens_a_trace() {
        let mut app = App::default();
        app.update(Input::Spans(vec![
            span("t1", "a", "api", "GET /"),
            span("t2", "b", "db", "SELECT"),
        ]));
        assert_eq!(app.visible_feed()[0].trace_id, "t2");
        keys(&mut app, "/api");
        app.update(Input::Key(Key::Enter));
        assert_eq!(app.visible_feed().len(), 1);
        let fx = app.update(Input::Key(Key::Enter));
        assert_eq!(fx, [Effect::LoadTrace("t1".into())]);
        keys(&mut app, " ");
        app.update(Input::Spans(vec![span("t3", "c", "api", "GET /x")]));
        assert_eq!(app.feed.len(), 2, "paused: nothing added");
        app.update(Input::Key(Key::Esc));
        assert!(app.filter.is_empty());
    }

    #[test]
    fn trace_span_comment_and_back() {
        let mut app = App::default();
        let mut child = span("t1", "b", "db", "SELECT");
        child.parent_span_id = Some("a".into());
        app.update(Input::Trace {
            trace_id: "t1".into(),
            spans: vec![child, span("t1", "a", "api", "GET /")],
            comments: vec![],
        });
        assert_eq!(app.screen, Screen::Trace);
        app.update(Input::Key(Key::Char('j')));
        app.update(Input::Key(Key::Enter));
        assert_eq!(app.screen, Screen::Span);
        keys(&mut app, "cslow query");
        let fx = app.update(Input::Key(Key::Enter));
        assert_eq!(
            fx,
            [Effect::AddComment {
                trace_id: "t1".into(),
                span_id: Some("b".into()),
                body: "slow query".into()
            }]
        );
        // While typing, q is text, not quit.
        keys(&mut app, "cq");
        assert!(!app.quit);
        app.update(Input::Key(Key::Esc));
        app.update(Input::Key(Key::Esc));
        assert_eq!(app.screen, Screen::Trace);
        app.update(Input::Key(Key::Esc));
        assert_eq!(app.screen, Screen::Feed);
        keys(&mut app, "q");
        assert!(app.quit);
    }

    #[test]
    fn services_enter_filters_the_feed() {
        let mut app = App::default();
        assert_eq!(keys(&mut app, "2"), [Effect::LoadServices]);
        app.update(Input::Services(vec![
            ServiceInfo {
                name: "api".into(),
                span_count: 1,
                trace_count: 1,
                avg_duration_ms: 1.0,
                error_rate: 0.0,
            },
            ServiceInfo {
                name: "db".into(),
                span_count: 1,
                trace_count: 1,
                avg_duration_ms: 1.0,
                error_rate: 0.0,
            },
        ]));
        keys(&mut app, "j");
        app.update(Input::Key(Key::Enter));
        assert_eq!((app.screen, app.filter.as_str()), (Screen::Feed, "db"));
    }
}
