use super::*;

fn payload(i: usize, len: usize) -> Vec<u8> {
    format!("prompt {i}: ")
        .into_bytes()
        .into_iter()
        .chain(std::iter::repeat_n(b"the refund policy ".iter().copied(), len / 18 + 1).flatten())
        .take(len)
        .collect()
}

#[test]
fn put_get_dedup_compress_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open_in(dir.path());
    let a = payload(1, 8000);
    let h = s.put(&a).unwrap();
    assert_eq!(h, hash_of(&a));
    assert_eq!(s.put(&a).unwrap(), h, "same content, same blob");
    assert_eq!(s.stats().blobs, 1);
    assert!(s.stats().disk_bytes < 2000, "compressed: {:?}", s.stats());
    let tiny = b"x".to_vec();
    let ht = s.put(&tiny).unwrap();
    assert_eq!(s.get(&h).unwrap().unwrap(), a);
    assert_eq!(s.get(&ht).unwrap().unwrap(), tiny);
    assert_eq!(s.get(&hash_of(b"absent")).unwrap(), None);
    s.sync().unwrap();
    drop(s);
    let s = BlobStore::open_in(dir.path());
    assert_eq!(s.get(&h).unwrap().unwrap(), a);
    assert_eq!(s.stats().blobs, 2);
    // Still appendable after reopening.
    let b = payload(2, 3000);
    let hb = s.put(&b).unwrap();
    drop(s);
    let s = BlobStore::open_in(dir.path());
    assert_eq!(s.get(&hb).unwrap().unwrap(), b);
    assert_eq!(parse_hash(&hex::encode(hb)), Some(hb));
    assert_eq!(parse_hash("zz"), None);
    assert_eq!(parse_hash(&"g".repeat(64)), None);
}

#[test]
fn a_torn_tail_is_cut_and_earlier_blobs_survive() {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open_in(dir.path());
    let a = payload(1, 5000);
    let b = payload(2, 5000);
    let (ha, hb) = (s.put(&a).unwrap(), s.put(&b).unwrap());
    s.sync().unwrap();
    drop(s);
    let path = pack_path(dir.path(), 0);
    let len = std::fs::metadata(&path).unwrap().len();
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let s = BlobStore::open_in(dir.path());
    assert_eq!(s.get(&ha).unwrap().unwrap(), a);
    assert_eq!(s.get(&hb).unwrap(), None);
    // Re-put (as WAL replay does) and read back after another reopen.
    s.put(&b).unwrap();
    drop(s);
    let s = BlobStore::open_in(dir.path());
    assert_eq!(s.get(&hb).unwrap().unwrap(), b);
    assert_eq!(s.get(&ha).unwrap().unwrap(), a);
}

#[test]
fn gc_keeps_live_and_recent_blobs_and_honours_payload_retention() {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open_in(dir.path());
    let blobs: Vec<Vec<u8>> = (0..6).map(|i| payload(i, 2000)).collect();
    let hashes: Vec<Hash> = blobs.iter().map(|b| s.put(b).unwrap()).collect();
    s.seal().unwrap();
    let recent = s.put(&payload(99, 2000)).unwrap();
    let live: HashSet<Hash> = [hashes[0], hashes[1], recent].into_iter().collect();
    let now = tael_core::time::now_ns();
    let hour = 3_600_000_000_000i64;
    // Within the grace period nothing goes.
    assert_eq!(
        s.collect(&live, now, hour, 100 * hour).unwrap(),
        Collected::default()
    );
    // Past it, the unreferenced sealed blobs go; live ones and the pack
    // being written stay.
    let c = s.collect(&live, now + 2 * hour, hour, 100 * hour).unwrap();
    assert_eq!(c.blobs, 4);
    for (i, h) in hashes.iter().enumerate() {
        assert_eq!(s.get(h).unwrap().is_some(), i < 2, "blob {i}");
    }
    assert!(s.get(&recent).unwrap().is_some());
    drop(s);
    let s = BlobStore::open_in(dir.path());
    assert_eq!(s.get(&hashes[0]).unwrap().unwrap(), blobs[0]);
    assert_eq!(s.get(&hashes[2]).unwrap(), None);
    // Payload retention drops even referenced blobs.
    let c = s
        .collect(&live, now + 200 * hour, hour, 100 * hour)
        .unwrap();
    assert_eq!(c.blobs, 3);
    assert_eq!(s.get(&hashes[0]).unwrap(), None);
    assert_eq!(s.stats().blobs, 0);
}

#[test]
fn oversized_blobs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open_in(dir.path());
    assert!(s.put(&vec![0u8; MAX_BLOB_BYTES + 1]).is_err());
}

#[test]
fn old_content_is_written_again_and_superseded_packs_go() {
    let dir = tempfile::tempdir().unwrap();
    let s = BlobStore::open_in(dir.path());
    let a = payload(1, 3000);
    let h = s.put(&a).unwrap();
    s.seal().unwrap();
    // Refresh everything older than 0 ns: the next put writes it again.
    s.set_refresh_after(0);
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert_eq!(s.put(&a).unwrap(), h);
    s.seal().unwrap();
    let live: HashSet<Hash> = [h].into_iter().collect();
    let now = tael_core::time::now_ns();
    // The first pack only holds a superseded copy: removed whole; the blob
    // lives on in the second.
    let c = s.collect(&live, now, 0, i64::MAX / 2).unwrap();
    assert_eq!(c.blobs, 0);
    assert!(c.bytes > 0);
    assert!(!pack_path(dir.path(), 0).exists());
    assert_eq!(s.get(&h).unwrap().unwrap(), a);
}
