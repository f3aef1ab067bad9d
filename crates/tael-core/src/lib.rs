//! tael-core: the data model shared by every layer, the error-code enum that
//! maps to HTTP and gRPC statuses, duration and time formatting, and the
//! lossless OTLP → model mapping (protobuf and OTLP/JSON), and LLM-call
//! recognition with its price table.

pub mod attr;
pub mod duration;
pub mod error;
pub mod llm;
pub mod model;
pub mod otlp;
pub mod signal;
pub mod time;

pub use error::{CoreError, ErrorCode};
pub use signal::Signal;
