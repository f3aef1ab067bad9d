//! Replicated shards. A shard is a set of replicas of one engine; with etcd
//! configured, they elect a leader through a key attached to an etcd lease
//! (`leadership.rs`), whose creation revision is the epoch: the fencing
//! token, stored durably on every replica and only ever raised
//! (`fence.rs`). Only the leader takes writes, and only while it can prove
//! its lease (`gate.rs`, an `Ingest` over the local one). etcd is reached
//! through its JSON gateway (`etcd.rs`; why in docs/adr/0004).

pub mod config;
pub mod error;
pub mod etcd;
pub mod fence;
pub mod gate;
pub mod leadership;

pub use config::ClusterConfig;
pub use error::ClusterError;
pub use gate::LeaderGatedIngest;
pub use leadership::{ClusterStatus, Leadership, Role};
