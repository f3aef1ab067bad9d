//! The conformance suite of [`Objects`], run against every backend.

use super::*;

/// What every backend must do, whatever it is.
fn objects_test_suite(o: &Objects) {
    let settled = || assert!(o.settle(std::time::Duration::from_secs(10)));
    // Small objects: durable local file, readable back, listed.
    o.put("MANIFEST.json", b"{\"version\":1}").unwrap();
    settled();
    assert_eq!(
        o.get("MANIFEST.json").unwrap().as_deref(),
        Some(&b"{\"version\":1}"[..])
    );
    assert_eq!(o.get("nothing-here").unwrap(), None);
    // A file written in place, then published.
    let loc = "spans/2026120300/part-000000000001.parquet";
    crate::part::write_file_durably(&o.local_path(loc), b"PAR1 data PAR1").unwrap();
    o.publish(loc).unwrap();
    settled();
    assert_eq!(o.list("spans").unwrap(), vec![(loc.to_string(), 14)]);
    assert!(o.list("logs").unwrap().is_empty());
    // Once published, the local file can be fetched again when gone.
    if !o.is_local() {
        std::fs::remove_file(o.local_path(loc)).unwrap();
    }
    let path = o.fetch(loc).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), b"PAR1 data PAR1");
    assert!(o.fetch("spans/none.parquet").is_err());
    assert!(o.location_url(loc).ends_with(loc));
    // Deleting: the object goes; deleting twice is fine.
    std::fs::remove_file(o.local_path(loc)).unwrap();
    o.delete_object(loc).unwrap();
    o.delete_object(loc).unwrap();
    settled();
    assert!(o.list("spans").unwrap().is_empty());
}

#[test]
fn the_data_dir_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let o = Objects::open(dir.path(), &Backend::DataDir, None).unwrap();
    assert!(o.is_local());
    objects_test_suite(&o);
}

#[test]
fn an_in_memory_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let o = Objects::open(dir.path(), &Backend::in_memory(), None).unwrap();
    assert!(!o.is_local());
    objects_test_suite(&o);
}

#[test]
fn a_reconcile_uploads_what_the_store_lacks_and_removes_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::in_memory();
    let Backend::Store { store, .. } = &backend else {
        unreachable!()
    };
    let o = Objects::open(dir.path(), &backend, None).unwrap();
    let part = "spans/2026120300/part-000000000001.parquet";
    let pack = "blobs/pack-00000001.blob";
    let orphan = "spans/2026120300/part-000000000009.parquet";
    let elsewhere = "other/kept.bin";
    crate::part::write_file_durably(&o.local_path(part), b"PAR1 part PAR1").unwrap();
    crate::part::write_file_durably(&o.local_path(pack), b"TBLB longer now").unwrap();
    let put = |loc: &str, b: &'static [u8]| {
        futures::executor::block_on(store.put(&Location::from(loc), b.to_vec().into())).unwrap();
    };
    put(pack, b"TBLB");
    put(orphan, b"PAR1");
    put(elsewhere, b"x");
    o.reconcile(
        vec![part.into(), pack.into(), "spans/gone.parquet".into()],
        vec!["spans".into()],
    );
    assert!(o.settle(std::time::Duration::from_secs(10)));
    assert_eq!(
        o.list("").unwrap(),
        vec![
            (pack.to_string(), 15),
            (elsewhere.to_string(), 1),
            (part.to_string(), 14)
        ]
    );
    let s = o.object_store_stats().unwrap();
    assert_eq!((s.pending, s.uploaded, s.deleted), (0, 2, 1));
    assert_eq!(s.store, "memory://");
}

#[test]
fn the_store_ends_with_the_newest_version_of_a_small_object() {
    let dir = tempfile::tempdir().unwrap();
    let o = Objects::open(dir.path(), &Backend::in_memory(), None).unwrap();
    for v in 0..50 {
        o.put("MANIFEST.json", format!("{{\"version\":{v}}}").as_bytes())
            .unwrap();
    }
    assert!(o.settle(std::time::Duration::from_secs(10)));
    std::fs::remove_file(o.local_path("MANIFEST.json")).unwrap();
    assert_eq!(
        o.get("MANIFEST.json").unwrap().as_deref(),
        Some(&b"{\"version\":49}"[..])
    );
}

#[test]
fn object_store_urls_are_checked() {
    for bad in ["not a url", "ftp://host/x", "s3://"] {
        assert!(Backend::from_url(bad).is_err(), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/store", dir.path().display());
    let Backend::Store { network, .. } = Backend::from_url(&url).unwrap() else {
        panic!("a file URL is a store")
    };
    assert!(!network);
    assert!(dir.path().join("store").is_dir());
}

#[test]
fn a_file_url_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/store", dir.path().display());
    let o = Objects::open(
        &dir.path().join("data"),
        &Backend::from_url(&url).unwrap(),
        None,
    )
    .unwrap();
    objects_test_suite(&o);
}

#[test]
fn a_prefixed_store_conforms_and_keeps_to_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let backend = Backend::Store {
        store: store.clone(),
        url: "memory://node-a".into(),
        network: false,
        prefix: "shards/node-a".into(),
        replica: false,
    };
    let o = Objects::open(dir.path(), &backend, None).unwrap();
    objects_test_suite(&o);
    // Keys carry the prefix; DataFusion's URL names the key.
    let all: Vec<String> = futures::executor::block_on(list(store, String::new(), String::new()))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(all, vec!["shards/node-a/MANIFEST.json".to_string()]);
    assert_eq!(
        o.location_url("spans/x.parquet"),
        format!("{REMOTE_URL}shards/node-a/spans/x.parquet")
    );
}

#[test]
fn readers_of_a_missing_copy_at_once_all_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = Arc::new(Objects::open(dir.path(), &Backend::in_memory(), None).unwrap());
    let loc = "logs/2026120700/part-000000000006.parquet";
    crate::part::write_file_durably(&o.local_path(loc), &vec![7u8; 1 << 20]).unwrap();
    o.publish(loc).unwrap();
    assert!(o.settle(std::time::Duration::from_secs(10)));
    for round in 0..5 {
        std::fs::remove_dir_all(dir.path().join("logs")).unwrap();
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let o = o.clone();
                std::thread::spawn(move || o.open_file(loc).map(|f| f.metadata().unwrap().len()))
            })
            .collect();
        for r in readers {
            assert_eq!(r.join().unwrap().unwrap(), 1 << 20, "round {round}");
        }
    }
}

/// Every key in `store`, sorted.
fn keys(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    futures::executor::block_on(list(store.clone(), String::new(), String::new()))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

fn manifest(flushed_seq: u64, part: &str) -> Vec<u8> {
    format!(
        r#"{{"version":1,"flushed_seq":{flushed_seq},"next_part_id":2,"parts":[{{"id":1,"signal":"spans","path":"{part}","hour_ns":0,"min_time_ns":0,"max_time_ns":0,"rows":1,"bytes":4}}]}}"#
    )
    .into_bytes()
}

#[test]
fn replicas_write_the_store_only_while_they_lead_and_a_deposed_one_never_overwrites() {
    let (da, db, dc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let backend = Backend::Store {
        store: store.clone(),
        url: "memory://".into(),
        network: false,
        prefix: "tael".into(),
        replica: false,
    }
    .for_shard(3);
    let a = Objects::open(da.path(), &backend, None).unwrap();
    let b = Objects::open(db.path(), &backend, None).unwrap();
    let ten = std::time::Duration::from_secs(10);
    let part = "spans/2026120300/part-000000000001.parquet";
    let write = |o: &Objects, body: &[u8], flushed: u64| {
        crate::part::write_file_durably(&o.local_path(part), body).unwrap();
        o.publish(part).unwrap();
        o.put("MANIFEST.json", &manifest(flushed, part)).unwrap();
        assert!(o.settle(ten));
    };
    // Neither leads: nothing is written, and a replica reads only its own
    // files.
    write(&a, b"aaaa", 1);
    assert!(keys(&store).is_empty());
    assert_eq!(b.get("MANIFEST.json").unwrap(), None);
    // a leads at epoch 5: its objects under epoch-5, the manifest naming it.
    a.lead(5, Vec::new(), Vec::new());
    write(&a, b"aaaa", 10);
    assert_eq!(
        keys(&store),
        vec![
            "tael/shards/3/MANIFEST.json".to_string(),
            format!("tael/shards/3/epoch-5/{part}")
        ]
    );
    assert_eq!(a.wal_hold(), Some(11));
    let stored = |s: &Arc<dyn ObjectStore>| {
        futures::executor::block_on(async {
            let got = s
                .get(&Location::from("tael/shards/3/MANIFEST.json"))
                .await
                .unwrap();
            got.bytes().await.unwrap()
        })
    };
    assert_eq!(uploads::epoch_of_manifest(&stored(&store)), 5);
    // b takes over at epoch 7: its own copy replaces a's whole (a later
    // epoch's objects, a newer leader's upload, are left alone).
    let newer = Location::from("tael/shards/3/epoch-9/spans/x.parquet");
    futures::executor::block_on(store.put(&newer, object_store::PutPayload::from_static(b"x")))
        .unwrap();
    b.lead(7, Vec::new(), Vec::new());
    write(&b, b"bbbbbb", 12);
    assert_eq!(
        keys(&store),
        vec![
            "tael/shards/3/MANIFEST.json".to_string(),
            format!("tael/shards/3/epoch-7/{part}"),
            "tael/shards/3/epoch-9/spans/x.parquet".to_string(),
        ]
    );
    futures::executor::block_on(store.delete(&newer)).unwrap();
    // a, deposed but not told yet, cannot overwrite the newer manifest, and
    // stops writing.
    write(&a, b"aaaa", 13);
    let m = stored(&store);
    assert_eq!(uploads::epoch_of_manifest(&m), 7);
    assert!(std::str::from_utf8(&m)
        .unwrap()
        .contains("\"flushed_seq\":12"));
    let st = a.object_store_stats().unwrap().replica.unwrap();
    assert!(!st.leading, "{st:?}");
    assert_eq!(a.wal_hold(), None);
    // A new replica is filled from the store: b's copy.
    let copied = copy::download(&backend, dc.path(), |epoch, seq| (epoch, seq) == (7, 12))
        .unwrap()
        .unwrap();
    assert_eq!((copied.epoch, copied.flushed_seq), (7, 12));
    assert_eq!(std::fs::read(dc.path().join(part)).unwrap(), b"bbbbbb");
    let local: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dc.path().join("MANIFEST.json")).unwrap()).unwrap();
    assert!(local.get("epoch").is_none(), "{local}");
    // A copy that is not wanted is not fetched.
    let dd = tempfile::tempdir().unwrap();
    assert_eq!(
        copy::download(&backend, dd.path(), |_, _| false).unwrap(),
        None
    );
    assert!(!dd.path().join(part).exists());
}

#[test]
fn a_part_published_before_its_replica_led_is_uploaded_when_its_commit_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let backend = Backend::Store {
        store: store.clone(),
        url: "memory://".into(),
        network: false,
        prefix: String::new(),
        replica: false,
    }
    .for_shard(0);
    let o = Objects::open(dir.path(), &backend, None).unwrap();
    let part = "spans/2026120300/part-000000000002.parquet";
    // Published while a standby (a flush under way when leadership came),
    // it is not in the reconcile the leadership starts with.
    crate::part::write_file_durably(&o.local_path(part), b"PAR1").unwrap();
    o.publish(part).unwrap();
    o.lead(4, Vec::new(), Vec::new());
    o.republish(&[
        part.to_string(),
        "spans/never-published.parquet".to_string(),
    ]);
    assert!(o.settle(std::time::Duration::from_secs(10)));
    assert_eq!(
        keys(&store),
        vec![format!("shards/0/epoch-4/{part}")],
        "the commit's part is in the store"
    );
}
