//! tael-mcp: tael's MCP server. One tool set ([`TaelMcp`]) over a
//! [`Backend`]: served in process at `/mcp` on the REST port (streamable
//! HTTP, [`http_service`]) over the node's store, and over stdio by
//! `tael mcp` ([`serve_stdio`]) as a client of a running server's REST
//! API. Every answer fits a byte budget ([`budget`]).

pub mod backend;
pub mod budget;
pub mod criticalpath;
pub mod error;
mod hints;
pub mod params;
pub mod reports;
pub mod tools;
pub mod traces;

pub use backend::{Backend, LocalBackend, RemoteBackend};
pub use tools::{TaelMcp, INSTRUCTIONS};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{tool_handler, ServerHandler, ServiceExt};

#[tool_handler(router = Self::router())]
impl<B: Backend> ServerHandler for TaelMcp<B> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("tael", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

impl<B: Backend> TaelMcp<B> {
    fn router() -> ToolRouter<Self> {
        Self::tool_router()
    }
}

/// The `/mcp` service: stateless streamable HTTP answering in JSON,
/// accepting the `Host` names given (the DNS-rebinding guard).
pub fn http_service<B: Backend>(
    backend: B,
    allowed_hosts: Vec<String>,
) -> StreamableHttpService<TaelMcp<B>, NeverSessionManager> {
    let cfg = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(allowed_hosts);
    StreamableHttpService::new(
        move || {
            Ok(TaelMcp {
                backend: backend.clone(),
            })
        },
        NeverSessionManager::default().into(),
        cfg,
    )
}

/// Serves MCP over stdin/stdout until the client closes it.
pub async fn serve_stdio<B: Backend>(backend: B) -> Result<(), std::io::Error> {
    let running = TaelMcp { backend }
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}
