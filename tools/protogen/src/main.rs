//! Compiles `crates/tael-server/proto/jaeger/api_v3/query_service.proto`
//! (with the OTLP protos shipped in the opentelemetry-proto crate) and
//! writes the prost messages and tonic client and server into the output
//! directory. OTLP types map to `opentelemetry_proto::tonic`, so the
//! generated code reuses the types tael already has.
//!
//! Usage: tael-protogen <repo root> <opentelemetry-proto proto dir> <out dir>

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, otel, out] = args.as_slice() else {
        return Err("usage: tael-protogen <repo root> <otel proto dir> <out dir>".into());
    };
    let proto_dir = PathBuf::from(root).join("crates/tael-server/proto");
    let file = proto_dir.join("jaeger/api_v3/query_service.proto");
    let fds = protox::compile([&file], [&proto_dir, &PathBuf::from(otel)])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .extern_path(".opentelemetry.proto", "::opentelemetry_proto::tonic")
        .out_dir(out)
        .compile_fds(fds)?;
    Ok(())
}
