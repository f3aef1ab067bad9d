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
