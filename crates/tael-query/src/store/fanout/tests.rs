#![allow(clippy::unwrap_used)]

use super::*;
use crate::store::routing::{IngestShard, ShardedIngest};
use crate::store::testsuite::store_test_suite;
use crate::store::Ingest;
use crate::{LocalStore, LocalStoreConfig};
use tael_storage::{Engine, EngineConfig};

fn local(dir: &std::path::Path, name: &str) -> LocalStore {
    let engine = Engine::open(EngineConfig::new(
        dir.join(name).join("d"),
        dir.join(name).join("w"),
    ))
    .unwrap();
    LocalStore::new(engine, LocalStoreConfig::default()).unwrap()
}

/// Two shards behind a router and a fan-out answer like one store, and
/// the router spread the fixture over both.
#[tokio::test]
async fn a_fanout_over_routed_shards_passes_the_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let shards: Vec<LocalStore> = (0..2)
        .map(|i| local(dir.path(), &format!("s{i}")))
        .collect();
    let router = ShardedIngest::new(
        shards
            .iter()
            .enumerate()
            .map(|(i, s)| IngestShard {
                name: format!("s{i}"),
                ingest: Arc::new(s.clone()) as Arc<dyn Ingest>,
            })
            .collect(),
    );
    let fanout = FanoutStore::new(
        shards
            .iter()
            .enumerate()
            .map(|(i, s)| Shard {
                name: format!("s{i}"),
                store: Arc::new(s.clone()),
            })
            .collect(),
        FanoutConfig::default(),
    )
    .unwrap();
    let (_, failed) = collect_failures(store_test_suite(&fanout, &router)).await;
    assert!(failed.is_empty(), "{failed:?}");
    for s in &shards {
        let rows = s.stats().await.unwrap().storage.unwrap().memtable_rows;
        assert!(rows > 0, "every shard got a share of the fixture");
    }
}

#[test]
fn newest_keeps_the_newest_of_the_union() {
    let merged = newest(vec![vec![9, 5, 1], vec![8, 7, 2]], 4, |x| *x);
    assert_eq!(merged, vec![9, 8, 7, 5]);
}

#[test]
fn a_series_on_two_shards_is_one_series() {
    use crate::promql::value::{Labels, SeriesRange};
    let series = |points: Vec<(i64, f64)>| Loaded {
        series: vec![SeriesRange {
            labels: Arc::new(Labels::new(vec![("job".into(), "a".into())])),
            points,
        }],
        unnamed: vec![None],
    };
    let out = union_series(
        vec![
            vec![series(vec![(1, 1.0), (3, 3.0)])],
            vec![series(vec![(2, 2.0), (3, 3.0)])],
        ],
        1,
    );
    assert_eq!(out[0].series.len(), 1);
    assert_eq!(out[0].series[0].points, vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
}
