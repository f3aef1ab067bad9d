//! Engine tests: flush, compaction, retention, replay.

use super::*;
use tael_core::model::Span;
use tael_core::otlp::testing::encode_spans;

fn cfg(dir: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir.join("data"), dir.join("wal"));
    c.maintenance_interval = Duration::from_secs(3600);
    c
}

fn spans(service: &str, first: u32, n: u32, start_ns: i64) -> Vec<Span> {
    (first..first + n)
        .map(|i| Span {
            trace_id: format!("{:032x}", i / 2 + 1),
            span_id: format!("{:016x}", i + 1),
            service: service.into(),
            operation: "op".into(),
            start_ns: start_ns + i as i64,
            end_ns: start_ns + i as i64 + 1_000_000,
            status: if i % 4 == 0 {
                "error".into()
            } else {
                "unset".into()
            },
            kind: "server".into(),
            ..Default::default()
        })
        .collect()
}

fn span_rows(e: &Engine) -> u64 {
    let snap = e.snapshot();
    let mem: usize = snap.spans.iter().map(|c| c.batch.num_rows()).sum();
    mem as u64
        + snap
            .parts_of(Signal::Spans)
            .map(|p| p.meta.rows)
            .sum::<u64>()
}

#[test]
fn flush_compaction_and_rollups_keep_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(cfg(dir.path())).unwrap();
    // An hour that is over, so all its parts are merged whatever their sizes.
    let now = tael_core::time::now_ns() - 2 * 3_600_000_000_000;
    // Three small flushes and two with a full-size row group each.
    let sizes = [100u32, 100, 100, 5000, 5000];
    let mut first = 0;
    for n in sizes {
        e.ingest_traces(&encode_spans(&spans("svc", first, n, now)))
            .unwrap();
        e.flush().unwrap();
        first += n;
    }
    assert_eq!(e.snapshot().parts_of(Signal::Spans).count(), 5);
    let merged = e.compact().unwrap();
    assert_eq!(merged, 5);
    let snap = e.snapshot();
    let parts: Vec<_> = snap.parts_of(Signal::Spans).collect();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].meta.rows, 10_300);
    assert_eq!(parts[0].meta.level, 1);
    let merged_part = &parts[0];
    let rows: usize = merged_part
        .read_all()
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 10_300);
    // The small row groups were merged into one; the big ones were copied
    // encoded, and their data, statistics, page index and bloom filters
    // all still work.
    let sizes: Vec<usize> = (0..merged_part.num_row_groups())
        .map(|rg| merged_part.row_group_rows(rg))
        .collect();
    assert_eq!(sizes, vec![300, 5000, 5000]);
    let by_bloom = |trace: &str| {
        merged_part
            .row_groups(&crate::part::RowGroupFilter {
                min_time: None,
                equals: vec![],
                bloom: Some(("trace_id", trace)),
                ..Default::default()
            })
            .unwrap()
    };
    // Span i belongs to trace i / 2 + 1.
    assert_eq!(by_bloom(&format!("{:032x}", 150 / 2 + 1)), vec![0]);
    assert_eq!(by_bloom(&format!("{:032x}", 7000 / 2 + 1)), vec![2]);
    assert!(by_bloom(&format!("{:032x}", 999_999)).is_empty());
    let svc = merged_part
        .row_groups(&crate::part::RowGroupFilter {
            min_time: None,
            equals: vec![("service", "other")],
            bloom: None,
            ..Default::default()
        })
        .unwrap();
    assert!(svc.is_empty(), "row-group statistics were kept");
    let hit = merged_part.read_rows(2, &[0, 4999]).unwrap();
    assert_eq!(hit.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    drop(snap);
    let r = e.services_rollup();
    let svc = &r.services["svc"];
    assert_eq!(svc.span_count, 10_300);
    assert_eq!(svc.error_count, 10_300 / 4);
    // Past 4096 distinct traces the count is a HyperLogLog estimate.
    let traces = svc.traces.count() as f64;
    assert!((traces / 5150.0 - 1.0).abs() < 0.03, "{traces}");
    // Retired part files are gone once no snapshot holds them.
    let files = std::fs::read_dir(dir.path().join("data/spans"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let n = std::fs::read_dir(files).unwrap().count();
    assert_eq!(n, 2, "one parquet part and its rollup");
}

#[test]
fn replay_restores_unflushed_rows_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let now = tael_core::time::now_ns();
    {
        let e = Engine::open(cfg(dir.path())).unwrap();
        e.ingest_traces(&encode_spans(&spans("a", 0, 10, now)))
            .unwrap();
        e.flush().unwrap();
        e.ingest_traces(&encode_spans(&spans("a", 10, 10, now)))
            .unwrap();
        // dropped without flush: the second batch lives only in the WAL
    }
    let e = Engine::open(cfg(dir.path())).unwrap();
    assert_eq!(span_rows(&e), 20);
    assert_eq!(e.services_rollup().services["a"].span_count, 20);
    // A retry of an acknowledged batch is not stored twice.
    let again = e
        .ingest_traces(&encode_spans(&spans("a", 10, 10, now)))
        .unwrap();
    assert_eq!(again.stored, 0);
    assert_eq!(again.duplicates, 10);
    assert_eq!(span_rows(&e), 20);
}

#[test]
fn retention_and_disk_cap_drop_oldest_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.span_retention = Duration::from_secs(86_400);
    let e = Engine::open(c).unwrap();
    let now = tael_core::time::now_ns();
    let hour = 3_600_000_000_000i64;
    e.ingest_traces(&encode_spans(&spans("old", 0, 10, now - 3 * 24 * hour)))
        .unwrap();
    e.ingest_traces(&encode_spans(&spans("h2", 100, 10, now - 2 * hour)))
        .unwrap();
    e.ingest_traces(&encode_spans(&spans("h1", 200, 10, now - hour)))
        .unwrap();
    e.ingest_traces(&encode_spans(&spans("now", 300, 10, now)))
        .unwrap();
    e.flush().unwrap();
    assert_eq!(e.snapshot().parts_of(Signal::Spans).count(), 4);
    assert_eq!(e.enforce_retention().unwrap(), 1);
    assert_eq!(span_rows(&e), 30);
    drop(e);
    let mut c = cfg(dir.path());
    let per_part = {
        let e = Engine::open(cfg(dir.path())).unwrap();
        let s = e.snapshot();
        let b = s
            .parts_of(Signal::Spans)
            .map(|p| p.meta.bytes)
            .max()
            .unwrap();
        b
    };
    c.max_disk_bytes = Some(per_part * 2 + per_part / 2);
    let e = Engine::open(c).unwrap();
    assert_eq!(e.enforce_retention().unwrap(), 1);
    let snap = e.snapshot();
    let kept: Vec<i64> = snap
        .parts_of(Signal::Spans)
        .map(|p| p.meta.min_time_ns)
        .collect();
    assert_eq!(
        kept.len(),
        2,
        "one partition over the cap was dropped: {kept:?}"
    );
    assert!(
        kept.iter().all(|t| *t >= now - hour - 1),
        "the oldest hour partition went first: {kept:?}"
    );
}

/// The objects under `prefix` of an engine's store.
fn objects_under(e: &Engine, prefix: &str) -> Vec<String> {
    e.objects()
        .list(prefix)
        .unwrap()
        .into_iter()
        .map(|(location, _)| location)
        .collect()
}

#[test]
fn an_object_store_holds_exactly_the_manifest_and_the_data_dir_is_a_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.backend = crate::objects::Backend::in_memory();
    let now = tael_core::time::now_ns() - 2 * 3_600_000_000_000;
    let e = Engine::open(c.clone()).unwrap();
    for i in 0..3 {
        e.ingest_traces(&encode_spans(&spans("svc", i * 100, 100, now)))
            .unwrap();
        e.flush().unwrap();
    }
    e.comments()
        .add(tael_core::model::TraceComment {
            id: "c1".into(),
            trace_id: format!("{:032x}", 1),
            span_id: None,
            author: "agent".into(),
            body: "slow checkout".into(),
            created_at: "2026-12-03T00:00:00Z".into(),
        })
        .unwrap();
    assert_eq!(e.compact().unwrap(), 3);
    assert!(e.objects().settle(Duration::from_secs(10)));
    // The retired parts' objects are gone; the merged part and its rollup
    // are there, as the manifest names them.
    let live: Vec<String> = e
        .snapshot()
        .parts_of(Signal::Spans)
        .map(|p| p.meta.path.clone())
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(
        objects_under(&e, "spans"),
        vec![live[0].clone(), crate::part::rollup_location(&live[0])]
    );
    drop(e);
    // An object no manifest names (a crash between upload and commit).
    let orphan = "spans/2026010100/part-000000000099.parquet";
    {
        let o = Objects::open(&dir.path().join("data"), &c.backend, None).unwrap();
        crate::part::write_file_durably(&o.local_path(orphan), b"PAR1").unwrap();
        o.publish(orphan).unwrap();
    }
    // The data dir goes whole; the engine comes back from the store.
    std::fs::remove_dir_all(dir.path().join("data")).unwrap();
    let e = Engine::open(c).unwrap();
    assert_eq!(span_rows(&e), 300);
    assert_eq!(e.services_rollup().services["svc"].span_count, 300);
    assert_eq!(e.comments().recent(10).len(), 1);
    assert!(e.objects().settle(Duration::from_secs(10)));
    assert!(!objects_under(&e, "spans").contains(&orphan.to_string()));
    assert!(e.objects().get("MANIFEST.json").unwrap().is_some());
}

#[test]
fn a_graceful_close_leaves_one_empty_wal_segment() {
    let dir = tempfile::tempdir().unwrap();
    let now = tael_core::time::now_ns();
    let mut c = cfg(dir.path());
    c.wal_segment_bytes = 16 << 10;
    {
        let e = Engine::open(c.clone()).unwrap();
        for i in 0..8 {
            e.ingest_traces(&encode_spans(&spans("a", i * 200, 200, now)))
                .unwrap();
            e.flush().unwrap();
        }
        assert!(
            e.wal.free_bytes() > 0,
            "flushes leave segments kept for reuse"
        );
        e.ingest_traces(&encode_spans(&spans("a", 5000, 200, now)))
            .unwrap();
        e.close().unwrap();
    }
    let files: Vec<(String, u64)> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|f| {
            let f = f.unwrap();
            (
                f.file_name().to_string_lossy().into_owned(),
                f.metadata().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(files.len(), 1, "one segment left: {files:?}");
    assert_eq!(files[0].1, 0, "and it is empty: {files:?}");
    let e = Engine::open(c).unwrap();
    assert_eq!(span_rows(&e), 1800);
}

#[test]
fn spare_wal_segments_scale_down_with_a_small_disk_cap() {
    let dir = tempfile::tempdir().unwrap();
    let now = tael_core::time::now_ns();
    let mut c = cfg(dir.path());
    c.wal_segment_bytes = 16 << 10;
    // A cap of 16 segments leaves room for two spare ones.
    c.max_disk_bytes = Some(16 * (16 << 10));
    let e = Engine::open(c).unwrap();
    for i in 0..10 {
        e.ingest_traces(&encode_spans(&spans("a", i * 200, 200, now)))
            .unwrap();
        e.flush().unwrap();
    }
    let spare = e.wal.free_bytes();
    assert!(spare > 0, "some segments are kept for reuse");
    assert!(spare <= 2 * (16 << 10), "{spare} bytes kept for reuse");
}

#[test]
fn exports_are_refused_before_the_memtables_outgrow_their_share() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.memory.memtables = 256 << 10;
    c.memtable_bytes = 64 << 10;
    let e = Engine::open(c).unwrap();
    let now = tael_core::time::now_ns();
    let (mut first, mut refused) = (0, None);
    for _ in 0..1000 {
        match e.ingest_traces(&encode_spans(&spans("svc", first, 200, now))) {
            Ok(_) => first += 200,
            Err(err) => {
                refused = Some(err);
                break;
            }
        }
    }
    let why = refused.expect("refused once the share is full").to_string();
    assert!(why.contains("memtables"), "{why}");
    let stats = e.stats().memory.expect("memory stats");
    let memtables = stats.parts.iter().find(|p| p.name == "memtables").unwrap();
    assert_eq!(memtables.share_bytes, 256 << 10);
    // Admitted while under the share, so past it by one export at most.
    let held = memtables.used_bytes.unwrap();
    assert!(held > 256 << 10 && held < 512 << 10, "{held}");
    assert_eq!(span_rows(&e), first as u64, "nothing refused was stored");
    e.flush().unwrap();
    e.ingest_traces(&encode_spans(&spans("svc", first, 200, now)))
        .expect("admitted again once flushed");
    let in_flight = stats.parts.iter().find(|p| p.name == "exports_in_flight");
    assert_eq!(in_flight.and_then(|p| p.used_bytes), Some(0));
}

#[test]
fn exports_in_flight_are_held_within_their_share() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.memory.exports_in_flight = 1 << 20;
    let e = Engine::open(c).unwrap();
    let payload = encode_spans(&spans("svc", 0, 100, tael_core::time::now_ns()));
    let held = e.memory.reserve(1 << 20, 1 << 20).unwrap();
    let why = e.ingest_traces(&payload).unwrap_err().to_string();
    assert!(why.contains("exports in flight"), "{why}");
    drop(held);
    e.ingest_traces(&payload).unwrap();
}

#[test]
fn an_empty_replica_leading_never_replaces_the_stores_copy_and_one_with_data_writes_its_own() {
    use object_store::ObjectStoreExt;
    let dir = tempfile::tempdir().unwrap();
    let backend = crate::objects::Backend::in_memory().for_shard(0);
    let crate::objects::Backend::Store { store, .. } = &backend else {
        unreachable!()
    };
    let store = store.clone();
    let key = object_store::path::Path::from("shards/0/MANIFEST.json");
    let theirs = br#"{"version":1,"epoch":3,"flushed_seq":10,"next_part_id":1,"parts":[]}"#;
    futures::executor::block_on(store.put(&key, object_store::PutPayload::from_static(theirs)))
        .unwrap();
    let mut c = cfg(dir.path());
    c.backend = backend;
    let e = Engine::open(c).unwrap();
    // Empty, it leads but does not write: the store's copy may be the only one.
    e.lead_objects(5).unwrap();
    assert!(e.objects().settle(Duration::from_secs(10)));
    let stored = || {
        futures::executor::block_on(async { store.get(&key).await.unwrap().bytes().await }).unwrap()
    };
    assert_eq!(&stored()[..], &theirs[..]);
    // With data, leading writes its copy (the part flushed while it was
    // not leading included) and its manifest at its epoch.
    e.follow_objects();
    e.ingest_traces(&encode_spans(&spans(
        "svc",
        0,
        100,
        tael_core::time::now_ns(),
    )))
    .unwrap();
    e.flush().unwrap();
    let part = e.stats().parts;
    assert_eq!(part, 1);
    e.lead_objects(6).unwrap();
    assert!(e.objects().settle(Duration::from_secs(10)));
    let m: serde_json::Value = serde_json::from_slice(&stored()).unwrap();
    assert_eq!(m["epoch"], 6, "{m}");
    let path = m["parts"][0]["path"].as_str().unwrap().to_string();
    let listed = futures::executor::block_on(store.head(&object_store::path::Path::from(format!(
        "shards/0/epoch-6/{path}"
    ))));
    assert!(listed.is_ok(), "{listed:?}");
}
