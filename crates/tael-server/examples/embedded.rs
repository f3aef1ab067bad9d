//! tael embedded in another program: start a server whose storage lives
//! in a directory of the program's choosing, on ports the OS picks; send
//! it a span over OTLP/HTTP (JSON), read it back through the library's
//! `Store` seam and over the REST API; shut down, flushing what it holds.
//!
//! `cargo run -p tael-server --example embedded` (the tests build it).

use std::error::Error;
use tael_query::api::ServicesRequest;
use tael_query::traces::TraceQuery;
use tael_server::{start, ServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let mut config = ServerConfig::default();
    config.engine.data_dir = dir.path().join("data");
    config.engine.wal_dir = dir.path().join("wal");
    config.listen.rest_api_addr = ([127, 0, 0, 1], 0).into();
    config.listen.otlp_grpc_addr = ([127, 0, 0, 1], 0).into();
    config.listen.otlp_http_addr = None; // OTLP/HTTP is on the REST port too
    let server = start(config).await?;
    let rest = format!("http://{}", server.rest_addr);
    println!("tael is serving its REST API on {rest}");

    // Ingest: one span, as any OpenTelemetry exporter would send it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let export = serde_json::json!({ "resourceSpans": [{
        "resource": { "attributes": [
            { "key": "service.name", "value": { "stringValue": "embedded-demo" } } ] },
        "scopeSpans": [{ "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "GET /hello",
            "kind": 2,
            "startTimeUnixNano": (now - 2_000_000).to_string(),
            "endTimeUnixNano": now.to_string(),
        }]}],
    }]});
    let client = tael_client::Client::new(&rest)?;
    let r = client
        .post_bytes(
            "/v1/traces",
            &[("content-type", "application/json")],
            serde_json::to_vec(&export)?,
        )
        .await?;
    if r.status != 200 {
        return Err(format!("export answered {}", r.status).into());
    }

    // Query through the library: the same `Store` the REST routes use.
    let query = TraceQuery {
        service: Some("embedded-demo".into()),
        limit: 10,
        ..Default::default()
    };
    let spans = server.store.search_spans(query).await?;
    let found = spans.first().ok_or("the span was not stored")?;
    println!(
        "stored: {} {} ({:.1} ms)",
        found.item.service,
        found.item.operation,
        found.item.duration_ms()
    );

    // And over REST, with the typed client.
    let services = client.call(&ServicesRequest).await?.services;
    println!(
        "services: {:?}",
        services.iter().map(|s| &s.name).collect::<Vec<_>>()
    );

    server.shutdown().await?;
    println!("shut down");
    Ok(())
}
