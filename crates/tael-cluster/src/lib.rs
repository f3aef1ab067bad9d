//! Replicated shards. A shard is a set of replicas of one engine; with etcd
//! configured, they elect a leader through a key attached to an etcd lease
//! (`leadership.rs`), whose creation revision is the epoch: the fencing
//! token, stored durably on every replica and only ever raised
//! (`fence.rs`). Only the leader takes writes, and only while it can prove
//! its lease (`gate.rs`, an `Ingest` over the local one), and acks a write
//! once the standbys have it (`ship.rs`, which ships the WAL to them). The
//! replicas publish their progress, the in-sync set and where each epoch's
//! records start in etcd (`membership.rs`, `history.rs`). etcd is reached
//! through its JSON gateway (`etcd.rs`; why in docs/adr/0004).

pub mod bootstrap;
pub mod config;
pub mod error;
pub mod etcd;
pub mod fence;
pub mod gate;
pub mod history;
pub mod leadership;
pub mod membership;
pub mod replica;
pub mod ship;

pub use config::ClusterConfig;
pub use error::ClusterError;
pub use gate::LeaderGatedIngest;
pub use leadership::{ClusterStatus, Leadership, Progress, Refusal, Role};
pub use replica::{ReceiveError, Replica, ReplicaStatus};
pub use ship::Shipper;
