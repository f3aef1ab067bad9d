//! The conformance suite of [`Objects`], run against every backend.

use super::*;

/// What every backend must do, whatever it is.
fn objects_test_suite(o: &Objects) {
    // Small objects: durable local file, readable back, listed.
    o.put("MANIFEST.json", b"{\"version\":1}").unwrap();
    assert_eq!(
        o.get("MANIFEST.json").unwrap().as_deref(),
        Some(&b"{\"version\":1}"[..])
    );
    assert_eq!(o.get("nothing-here").unwrap(), None);
    // A file written in place, then published.
    let loc = "spans/2026120300/part-000000000001.parquet";
    crate::part::write_file_durably(&o.local_path(loc), b"PAR1 data PAR1").unwrap();
    o.publish(loc).unwrap();
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
    assert!(o.list("spans").unwrap().is_empty());
}

#[test]
fn the_data_dir_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let o = Objects::open(dir.path(), &Backend::DataDir).unwrap();
    assert!(o.is_local());
    objects_test_suite(&o);
}

#[test]
fn an_in_memory_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let o = Objects::open(dir.path(), &Backend::in_memory()).unwrap();
    assert!(!o.is_local());
    objects_test_suite(&o);
}
