//! The live routes: `GET /api/v1/traces/live` and `GET /api/v1/logs/live`,
//! server-sent event streams of the spans and log records stored from
//! the moment of the request, filtered like `/api/v1/traces` and
//! `/api/v1/logs` (without a time window, a limit or full-text search).
//! The feeds behind them are the store's ([`tael_query::live`]).
//!
//! Wire format (`text/event-stream`, one block per event):
//!
//! ```text
//! retry: 3000                         first, once: reconnect delay (ms)
//! id: 1764806400000100                and the id the stream follows from
//!
//! event: span                         `log` on the logs route
//! id: 1764806400000123                the feed id; only grows
//! data: {"trace_id": …}               the item as the search route writes it
//!
//! event: gap                          resumed past what the buffer holds
//! data: {"missed":120,"exact":true}
//!
//! event: lagged                       this reader fell behind the feed
//! data: {"dropped":5000}
//!
//! : heartbeat                         every `live_heartbeat` (15 s)
//!
//! event: end                          the server is stopping; reconnect
//! data: {"reason":"shutdown"}         with Last-Event-ID to resume
//! ```
//!
//! A reconnecting client sends the id of the last event it read as the
//! `Last-Event-ID` header (or the `last_event_id` parameter); `gap`,
//! `lagged` and `end` carry no id, so they never move it; the first block
//! carries the id the stream starts after, so a client that read nothing
//! yet resumes without a hole too.

use crate::error::ApiError;
use crate::rest::params;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::stream::{BoxStream, StreamExt};
use serde::Serialize;
use serde_json::json;
use std::time::Duration;
use tael_query::live::{
    LiveEvent, LiveLogFilter, LiveSpanFilter, LOGS_LIVE_ROUTE, TRACES_LIVE_ROUTE,
};
use tael_query::params::Params;

/// Reconnect delay sent on connect.
const RETRY: Duration = Duration::from_secs(3);

/// The id to resume after: the `Last-Event-ID` header, else the
/// `last_event_id` parameter.
fn last_event_id(headers: &HeaderMap, p: &Params) -> Result<Option<u64>, ApiError> {
    let header = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("Last-Event-ID is not text"))?
                .to_string(),
        ),
        None => None,
    };
    let Some(text) = header.or_else(|| p.string("last_event_id")) else {
        return Ok(None);
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>().map(Some).map_err(|_| {
        ApiError::bad_request(format!(
            "invalid Last-Event-ID {text:?}: expected the id of an event of this stream"
        ))
    })
}

fn event_of<T: Serialize>(name: &'static str, ev: LiveEvent<T>) -> Event {
    let (event, id, data) = match ev {
        LiveEvent::Start { after } => {
            return Event::default().retry(RETRY).id(after.to_string());
        }
        LiveEvent::Item { id, item } => (name, Some(id), serde_json::to_value(item)),
        LiveEvent::Gap { missed, exact } => {
            ("gap", None, Ok(json!({"missed": missed, "exact": exact})))
        }
        LiveEvent::Lagged { dropped } => ("lagged", None, Ok(json!({"dropped": dropped}))),
    };
    let data = data.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot write a live event");
        json!({"error": "the item could not be written"})
    });
    let ev = Event::default().event(event).data(data.to_string());
    match id {
        Some(id) => ev.id(id.to_string()),
        None => ev,
    }
}

/// Waits for the server's shutdown (forever when it has no shutdown).
async fn stopping(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if shutdown.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The SSE answer over `events`: `retry:` first, heartbeats, and `end`
/// when the server stops.
fn stream<T: Serialize + Send + 'static>(
    st: &AppState,
    name: &'static str,
    events: BoxStream<'static, LiveEvent<T>>,
) -> Response {
    let end = futures::stream::iter([Event::default()
        .event("end")
        .data(json!({"reason": "shutdown"}).to_string())]);
    let body = events
        .map(move |ev| event_of(name, ev))
        .take_until(stopping(st.shutdown.clone()))
        .chain(end)
        .map(Ok::<_, std::convert::Infallible>);
    let keep_alive = KeepAlive::new()
        .interval(st.live_heartbeat)
        .text("heartbeat");
    (
        [(axum::http::header::CACHE_CONTROL, "no-cache")],
        Sse::new(body).keep_alive(keep_alive),
    )
        .into_response()
}

async fn traces_live(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(raw)?;
    let filter = LiveSpanFilter::from_params(&p)?;
    let last = last_event_id(&headers, &p)?;
    Ok(stream(&st, "span", st.store.live_spans(filter, last)))
}

async fn logs_live(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(raw)?;
    let filter = LiveLogFilter::from_params(&p)?;
    let last = last_event_id(&headers, &p)?;
    Ok(stream(&st, "log", st.store.live_logs(filter, last)))
}

/// The live routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(TRACES_LIVE_ROUTE, get(traces_live))
        .route(LOGS_LIVE_ROUTE, get(logs_live))
}
