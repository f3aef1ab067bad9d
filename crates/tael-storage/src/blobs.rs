//! The content-addressed blob store: LLM payloads (prompts, completions,
//! system instructions, tool arguments and results) and large log bodies,
//! stored once per distinct content (sha256), zstd-compressed, packed into
//! append-only pack files so that small payloads do not cost a file each.
//!
//! A pack (the object `blobs/pack-<id:08>.blob`, see `crate::objects`,
//! written as the local file of that location) is a sequence of records,
//! all integers little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `TBLB` |
//! | 1 | codec: 0 stored as is, 1 zstd |
//! | 3 | reserved (0) |
//! | 4 | raw length |
//! | 4 | stored length `n` |
//! | 8 | written at (ns since the epoch) |
//! | 32 | sha256 of the raw content |
//! | n | stored bytes |
//! | 4 | crc32 of everything above |
//!
//! The index (sha256 → pack, offset) is rebuilt at open from the record
//! headers of the sealed packs and a CRC-checked read of the newest one;
//! a torn or corrupt tail of the newest pack is cut off (its blobs are
//! re-put when the WAL that still holds their spans is replayed).
//! Writes go to the newest pack, rotated at [`PACK_BYTES`]; [`BlobStore::sync`]
//! makes them durable and runs before a flush lets the WAL go. A pack is
//! published when it is sealed; when the object store is not the data dir
//! the newest pack is published at every sync, and sealed there once it
//! holds [`STORE_SEAL_BYTES`] or is [`STORE_SEAL_AGE`] old, so the store
//! holds every blob a flushed part refers to and a pack is uploaded again
//! only while it is small; a pack only the store has is fetched at open.
//!
//! Garbage collection ([`BlobStore::collect`]) rewrites sealed packs
//! without the blobs that are unreferenced and older than the grace period
//! (so a payload written just before its span is never collected), or
//! older than the payload retention.

use crate::error::StorageError;
use crate::objects::Objects;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// With an object store, a sync seals the pack being written from this
/// size on, or once it is this old: each pack then goes up once, whole,
/// and a slow trickle of payloads still makes few packs (at most one per
/// 10 minutes) and re-uploads at most this much per flush.
pub const STORE_SEAL_BYTES: u64 = 1 << 20;
pub const STORE_SEAL_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// A pack is sealed (and a new one started) past this size.
pub const PACK_BYTES: u64 = 64 << 20;
const MAGIC: &[u8; 4] = b"TBLB";
const HEADER: usize = 4 + 4 + 4 + 4 + 8 + 32;
/// Largest blob accepted (a payload beyond it stays inline).
pub const MAX_BLOB_BYTES: usize = 64 << 20;

mod recent;

thread_local! {
    /// Each thread's compression context, kept across puts (a context
    /// made per call costs more than compressing a few KiB).
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Blob compression level: on prose in 4 KiB pieces, level 1 compresses
/// about 30% faster than level 3 for a 1% larger result (`zstd -b1 -B4096`
/// against `-b3`), and payload ingest spends more time here than anywhere
/// but the text index.
const LEVEL: i32 = 1;

/// `raw`, zstd-compressed at [`LEVEL`], with this thread's context.
fn compress(raw: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(LEVEL).ok();
        }
        c.as_mut()?.compress(raw).ok()
    })
}

/// Decompresses a blob of `raw_len` bytes with this thread's context.
fn decompress(stored: &[u8], raw_len: usize) -> Option<Vec<u8>> {
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = zstd::bulk::Decompressor::new().ok();
        }
        d.as_mut()?.decompress(stored, raw_len).ok()
    })
}

/// A blob's content hash.
pub type Hash = [u8; 32];

/// The sha256 of `content`.
pub fn hash_of(content: &[u8]) -> Hash {
    Sha256::digest(content).into()
}

/// Parses a 64-character lower- or upper-case hex sha256.
pub fn parse_hash(hex_text: &str) -> Option<Hash> {
    if hex_text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).ok()?;
    Some(out)
}

#[derive(Debug, Clone, Copy)]
struct Loc {
    pack: u32,
    offset: u64,
    stored: u32,
    raw: u32,
    written_ns: i64,
    /// The last put of this content (in memory only; `written_ns` after
    /// an open).
    last_put_ns: i64,
}

struct Pack {
    file: File,
    /// Bytes written (appends are serialised by the writer lock).
    len: AtomicU64,
}

impl Pack {
    fn new(file: File, len: u64) -> Arc<Pack> {
        Arc::new(Pack {
            file,
            len: AtomicU64::new(len),
        })
    }

    fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }
}

/// What a garbage collection removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Collected {
    pub blobs: u64,
    pub bytes: u64,
}

/// Blob store counters.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct BlobStats {
    pub blobs: u64,
    pub packs: u64,
    pub disk_bytes: u64,
    /// Uncompressed bytes of the distinct blobs.
    pub raw_bytes: u64,
}

/// The blob store of one data dir.
pub struct BlobStore {
    /// The local directory of the packs.
    dir: PathBuf,
    objects: Arc<Objects>,
    /// The location of the packs' directory (`blobs`).
    prefix: String,
    index: RwLock<HashMap<Hash, Loc>>,
    packs: RwLock<HashMap<u32, Arc<Pack>>>,
    /// The pack being written (id); appends are serialised here.
    writer: Mutex<u32>,
    /// Serialises garbage collections.
    gc: Mutex<()>,
    /// A put of content stored longer ago than this writes it again, so
    /// that payload retention (by write time) never drops a blob that new
    /// spans still refer to.
    refresh_ns: AtomicI64,
    /// When the writer's pack was started.
    writer_started_ns: AtomicI64,
    recent: Mutex<recent::RecentBlobs>,
}

fn pack_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("pack-{id:08}.blob"))
}

fn io(e: std::io::Error) -> StorageError {
    StorageError::Io {
        path: "blob store".into(),
        source: e,
    }
}

/// Encodes one record.
fn record(hash: &Hash, raw: &[u8], written_ns: i64) -> Vec<u8> {
    let compressed = compress(raw).filter(|c| c.len() < raw.len());
    let (codec, stored) = match &compressed {
        Some(c) => (1u8, c.as_slice()),
        None => (0u8, raw),
    };
    let mut out = Vec::with_capacity(HEADER + stored.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[codec, 0, 0, 0]);
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    out.extend_from_slice(&written_ns.to_le_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(stored);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A record's header fields.
struct Header {
    codec: u8,
    raw: u32,
    stored: u32,
    written_ns: i64,
    hash: Hash,
}

fn header(b: &[u8]) -> Option<Header> {
    if b.len() < HEADER || &b[..4] != MAGIC {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut ns = [0u8; 8];
    ns.copy_from_slice(&b[16..24]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&b[24..56]);
    Some(Header {
        codec: b[4],
        raw: u32_at(8),
        stored: u32_at(12),
        written_ns: i64::from_le_bytes(ns),
        hash,
    })
}

/// The records of a pack: (offset, header), up to the first bad one; and
/// the length of the good prefix.
fn scan(bytes: &[u8]) -> (Vec<(u64, Header)>, u64) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(h) = header(&bytes[at..]) {
        let end = at + HEADER + h.stored as usize + 4;
        if end > bytes.len() {
            break;
        }
        let crc = u32::from_le_bytes([
            bytes[end - 4],
            bytes[end - 3],
            bytes[end - 2],
            bytes[end - 1],
        ]);
        if crc32fast::hash(&bytes[at..end - 4]) != crc {
            break;
        }
        out.push((at as u64, h));
        at = end;
    }
    (out, at as u64)
}

/// The records of a sealed pack from their headers alone (the content is
/// checked against its hash when read), up to the first bad header; and
/// the length of that prefix. Open then reads a few bytes per blob, not
/// the packs.
fn scan_headers(file: &File, len: u64) -> Result<(Vec<(u64, Header)>, u64), StorageError> {
    let mut out = Vec::new();
    let mut at = 0u64;
    let mut buf = [0u8; HEADER];
    while at + HEADER as u64 <= len {
        file.read_exact_at(&mut buf, at).map_err(io)?;
        let Some(h) = header(&buf) else { break };
        let end = at + HEADER as u64 + h.stored as u64 + 4;
        if end > len {
            break;
        }
        out.push((at, h));
        at = end;
    }
    Ok((out, at))
}

impl BlobStore {
    /// Opens (creating) the store whose packs are under `prefix` in
    /// `objects`, fetching the packs only the object store has and
    /// rebuilding the index. A bad record cuts the newest pack there (a
    /// torn write); in an older pack a bad header ends that pack's scan
    /// (with a warning) and the pack is kept. Up to `cache_bytes` of
    /// recently written blobs are kept in memory (see [`recent`]).
    pub fn open(
        objects: Arc<Objects>,
        prefix: &str,
        cache_bytes: usize,
    ) -> Result<BlobStore, StorageError> {
        let dir = &objects.local_path(prefix);
        std::fs::create_dir_all(dir).map_err(io)?;
        let local_ids = || -> Result<Vec<u32>, StorageError> {
            Ok(std::fs::read_dir(dir)
                .map_err(io)?
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    name.strip_prefix("pack-")?
                        .strip_suffix(".blob")?
                        .parse()
                        .ok()
                })
                .collect())
        };
        let mut ids = local_ids()?;
        // An empty cache (a new or wiped node) is filled from the store;
        // a node with packs of its own has at least what the store has.
        if ids.is_empty() && !objects.is_local() {
            for (location, _) in objects.list(prefix)? {
                if location.ends_with(".blob") {
                    objects.fetch(&location)?;
                }
            }
            ids = local_ids()?;
        }
        ids.sort_unstable();
        let mut index: HashMap<Hash, Loc> = HashMap::new();
        let mut packs = HashMap::new();
        let newest = ids.last().copied();
        for &id in &ids {
            let path = pack_path(dir, id);
            // Append mode: writes always land at the end, even after a cut.
            let mut file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            let mut len = file.metadata().map_err(io)?.len();
            // The newest pack may end in a torn write: check its CRCs.
            let (records, good) = if Some(id) == newest {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map_err(io)?;
                scan(&bytes)
            } else {
                scan_headers(&file, len)?
            };
            if good < len {
                if Some(id) == newest {
                    tracing::warn!(pack = %path.display(), kept = good, len, "cutting a torn blob pack tail");
                    file.set_len(good).map_err(io)?;
                    file.sync_all().map_err(io)?;
                    len = good;
                } else {
                    tracing::warn!(pack = %path.display(), readable = good, len, "corrupt record in a sealed blob pack; later records in it are unreadable");
                }
            }
            for (offset, h) in records {
                let loc = Loc {
                    pack: id,
                    offset,
                    stored: h.stored,
                    raw: h.raw,
                    written_ns: h.written_ns,
                    last_put_ns: h.written_ns,
                };
                // Of two copies (a refresh), the later write wins.
                match index.get(&h.hash) {
                    Some(old) if old.written_ns > loc.written_ns => {}
                    _ => {
                        index.insert(h.hash, loc);
                    }
                }
            }
            packs.insert(id, Pack::new(file, len));
        }
        let current = newest.unwrap_or(0);
        if let std::collections::hash_map::Entry::Vacant(e) = packs.entry(current) {
            e.insert(Pack::new(Self::create_pack(dir, current)?, 0));
        }
        Ok(BlobStore {
            dir: dir.to_path_buf(),
            objects,
            prefix: prefix.to_string(),
            index: RwLock::new(index),
            packs: RwLock::new(packs),
            writer: Mutex::new(current),
            gc: Mutex::new(()),
            refresh_ns: AtomicI64::new(i64::MAX),
            writer_started_ns: AtomicI64::new(tael_core::time::now_ns()),
            recent: Mutex::new(recent::RecentBlobs::new(cache_bytes)),
        })
    }

    /// Bytes of recently written blobs kept in memory.
    pub fn cached_bytes(&self) -> usize {
        self.recent.lock().bytes()
    }

    /// A store with its packs straight in `dir`, itself the object store
    /// (tests).
    #[cfg(test)]
    pub(crate) fn open_in(dir: &Path) -> BlobStore {
        let objects =
            Objects::open(dir, &crate::objects::Backend::DataDir, None).expect("data dir");
        BlobStore::open(Arc::new(objects), "", 32 << 20).expect("blob store")
    }

    fn create_pack(dir: &Path, id: u32) -> Result<File, StorageError> {
        let f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(pack_path(dir, id))
            .map_err(io)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(f)
    }

    /// Sets how old stored content may be before a put writes it again
    /// (half the payload retention, so that content still being put is
    /// kept for at least that long after its last put).
    pub fn set_refresh_after(&self, ns: i64) {
        self.refresh_ns.store(ns.max(0), Ordering::Relaxed);
    }

    /// When `hash` is stored and recent enough not to be written again,
    /// records the put (the grace period then counts from now) and says so.
    fn touch_if_fresh(&self, hash: &Hash, now_ns: i64) -> bool {
        let refresh = self.refresh_ns.load(Ordering::Relaxed);
        let fresh = |l: &Loc| l.written_ns >= now_ns.saturating_sub(refresh);
        // New content (the common case on the ingest path) only reads.
        if !self.index.read().get(hash).is_some_and(fresh) {
            return false;
        }
        let mut index = self.index.write();
        match index.get_mut(hash) {
            Some(l) if fresh(l) => {
                l.last_put_ns = l.last_put_ns.max(now_ns);
                true
            }
            _ => false,
        }
    }

    /// Moves the writer to a fresh pack; the pack it leaves is synced
    /// first, so that a later [`BlobStore::sync`] (which syncs only the
    /// writer's pack) covers every put. Called with the writer lock held.
    fn rotate(&self, current: &mut u32) -> Result<(), StorageError> {
        if let Some(p) = self.packs.read().get(current) {
            p.file.sync_data().map_err(io)?;
        }
        self.objects.publish(&self.location(*current))?;
        *current += 1;
        let file = Self::create_pack(&self.dir, *current)?;
        self.packs.write().insert(*current, Pack::new(file, 0));
        self.writer_started_ns
            .store(tael_core::time::now_ns(), Ordering::Relaxed);
        Ok(())
    }

    /// Stores `content` (once: existing recent content is not written
    /// again) and returns its hash. Not durable until [`BlobStore::sync`].
    pub fn put(&self, content: &[u8]) -> Result<Hash, StorageError> {
        if content.len() > MAX_BLOB_BYTES {
            return Err(StorageError::InvalidArgument(format!(
                "blob of {} bytes is over the {MAX_BLOB_BYTES}-byte limit",
                content.len()
            )));
        }
        let hash = hash_of(content);
        let now = tael_core::time::now_ns();
        if self.touch_if_fresh(&hash, now) {
            return Ok(hash);
        }
        let rec = record(&hash, content, now);
        let mut current = self.writer.lock();
        if self.touch_if_fresh(&hash, now) {
            return Ok(hash);
        }
        if self
            .packs
            .read()
            .get(&*current)
            .is_none_or(|p| p.len() >= PACK_BYTES)
        {
            self.rotate(&mut current)?;
        }
        let pack = self
            .packs
            .read()
            .get(&*current)
            .cloned()
            .ok_or_else(|| StorageError::Corrupt("blob writer pack".into()))?;
        let offset = pack.len();
        if let Err(e) = (&pack.file).write_all(&rec) {
            // A partial record would make the next offsets wrong: cut it.
            let _ = pack.file.set_len(offset);
            return Err(io(e));
        }
        pack.len.store(offset + rec.len() as u64, Ordering::Release);
        let h = header(&rec).ok_or_else(|| StorageError::Corrupt("blob record".into()))?;
        self.index.write().insert(
            hash,
            Loc {
                pack: *current,
                offset,
                stored: h.stored,
                raw: h.raw,
                written_ns: now,
                last_put_ns: now,
            },
        );
        drop(current);
        self.recent.lock().insert(hash, content);
        Ok(hash)
    }

    /// Makes every blob put so far durable. With an object store behind
    /// the data dir, a pack of [`STORE_SEAL_BYTES`] or more, or older than
    /// [`STORE_SEAL_AGE`], is sealed here (and so published once, whole)
    /// rather than uploaded again at every flush as it grows.
    pub fn sync(&self) -> Result<(), StorageError> {
        let mut current = self.writer.lock();
        let len = self.packs.read().get(&*current).map_or(0, |p| p.len());
        let age = tael_core::time::now_ns() - self.writer_started_ns.load(Ordering::Relaxed);
        if !self.objects.is_local()
            && len > 0
            && (len >= STORE_SEAL_BYTES || age >= STORE_SEAL_AGE.as_nanos() as i64)
        {
            return self.rotate(&mut current);
        }
        if let Some(p) = self.packs.read().get(&*current) {
            p.file.sync_data().map_err(io)?;
        }
        self.objects.publish(&self.location(*current))
    }

    /// The locations of every pack.
    pub fn pack_locations(&self) -> Vec<String> {
        let mut ids: Vec<u32> = self.packs.read().keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter().map(|id| self.location(id)).collect()
    }

    /// The location of pack `id`.
    fn location(&self, id: u32) -> String {
        let name = format!("pack-{id:08}.blob");
        match self.prefix.is_empty() {
            true => name,
            false => format!("{}/{name}", self.prefix),
        }
    }

    /// Deletes pack `id`, object and file.
    fn delete_pack(&self, id: u32) -> Result<(), StorageError> {
        self.objects.delete_object(&self.location(id))?;
        std::fs::remove_file(pack_path(&self.dir, id)).map_err(io)
    }

    /// The content of `hash`, checked against its hash; `None` when absent.
    pub fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StorageError> {
        // A garbage collection may move the blob between the index lookup
        // and the read: look again once.
        for _ in 0..2 {
            let Some(loc) = self.index.read().get(hash).copied() else {
                return Ok(None);
            };
            if let Some(raw) = self.recent.lock().get(hash) {
                return Ok(Some(raw.to_vec()));
            }
            let Some(pack) = self.packs.read().get(&loc.pack).cloned() else {
                continue;
            };
            let mut buf = vec![0u8; HEADER + loc.stored as usize + 4];
            if pack.file.read_exact_at(&mut buf, loc.offset).is_err() {
                continue;
            }
            let corrupt = || StorageError::Corrupt(format!("blob {}", hex::encode(hash)));
            let h = header(&buf).ok_or_else(corrupt)?;
            if h.stored != loc.stored || h.hash != *hash {
                return Err(corrupt());
            }
            let body = &buf[HEADER..HEADER + loc.stored as usize];
            let raw = match h.codec {
                0 => body.to_vec(),
                1 => decompress(body, loc.raw as usize).ok_or_else(corrupt)?,
                _ => return Err(corrupt()),
            };
            if hash_of(&raw) != *hash {
                return Err(corrupt());
            }
            return Ok(Some(raw));
        }
        Ok(None)
    }

    pub fn stats(&self) -> BlobStats {
        let (blobs, raw_bytes) = {
            let index = self.index.read();
            (
                index.len() as u64,
                index.values().map(|l| l.raw as u64).sum(),
            )
        };
        let packs = self.packs.read();
        BlobStats {
            blobs,
            raw_bytes,
            packs: packs.len() as u64,
            disk_bytes: packs.values().map(|p| p.len()).sum(),
        }
    }

    /// Removes the blobs that are either not in `live` and neither written
    /// nor put within `grace_ns` of `now_ns`, or written before `now_ns -
    /// retention_ns` (payload retention), by copying each affected pack's
    /// survivors to one new pack and deleting it. The writer's pack is
    /// sealed first when it holds anything and is older than the grace
    /// period, so that a quiet store is collected too.
    pub fn collect(
        &self,
        live: &HashSet<Hash>,
        now_ns: i64,
        grace_ns: i64,
        retention_ns: i64,
    ) -> Result<Collected, StorageError> {
        let _gc = self.gc.lock();
        let doomed = |hash: &Hash, loc: &Loc| {
            loc.written_ns < now_ns.saturating_sub(retention_ns)
                || (!live.contains(hash)
                    && loc.written_ns.max(loc.last_put_ns) < now_ns.saturating_sub(grace_ns))
        };
        // Only packs below `current` are considered; ids only grow.
        let current = {
            let mut w = self.writer.lock();
            let started = self.writer_started_ns.load(Ordering::Relaxed);
            let written = self.packs.read().get(&*w).is_some_and(|p| p.len() > 0);
            if written && started < now_ns.saturating_sub(grace_ns) {
                self.rotate(&mut w)?;
            }
            *w
        };
        let mut by_pack: HashMap<u32, Vec<(Hash, Loc)>> = HashMap::new();
        for (h, loc) in self.index.read().iter() {
            if loc.pack < current {
                by_pack.entry(loc.pack).or_default().push((*h, *loc));
            }
        }
        let mut out = Collected::default();
        // Sealed packs no blob lives in any more (all superseded) go whole.
        let empty: Vec<u32> = self
            .packs
            .read()
            .keys()
            .copied()
            .filter(|id| *id < current && !by_pack.contains_key(id))
            .collect();
        for id in empty {
            if let Some(p) = self.packs.write().remove(&id) {
                out.bytes += p.len();
            }
            self.delete_pack(id)?;
        }
        // One target pack for every survivor of this run, made lazily.
        let mut target: Option<(u32, Arc<Pack>)> = None;
        let mut ids: Vec<u32> = by_pack.keys().copied().collect();
        ids.sort_unstable();
        for pack_id in ids {
            let blobs = &by_pack[&pack_id];
            if !blobs.iter().any(|(h, l)| doomed(h, l)) {
                continue;
            }
            let Some(old) = self.packs.read().get(&pack_id).cloned() else {
                continue;
            };
            let keep: Vec<&(Hash, Loc)> = blobs.iter().filter(|(h, l)| !doomed(h, l)).collect();
            let mut moved = Vec::with_capacity(keep.len());
            if !keep.is_empty() {
                if target.is_none() {
                    let mut w = self.writer.lock();
                    self.rotate(&mut w)?;
                    let id = *w;
                    // The writer moves past the target: the copy below is
                    // the target's only writer.
                    self.rotate(&mut w)?;
                    let pack = self
                        .packs
                        .read()
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| StorageError::Corrupt("new blob pack".into()))?;
                    target = Some((id, pack));
                }
                let Some((tid, tpack)) = &target else {
                    continue;
                };
                for (h, loc) in keep {
                    let mut buf = vec![0u8; HEADER + loc.stored as usize + 4];
                    old.file.read_exact_at(&mut buf, loc.offset).map_err(io)?;
                    let at = tpack.len();
                    (&tpack.file).write_all(&buf).map_err(io)?;
                    tpack.len.store(at + buf.len() as u64, Ordering::Release);
                    moved.push((
                        *h,
                        *loc,
                        Loc {
                            pack: *tid,
                            offset: at,
                            ..*loc
                        },
                    ));
                }
                tpack.file.sync_all().map_err(io)?;
                self.objects.publish(&self.location(*tid))?;
            }
            // Switch the index, entry by entry, only where it still points
            // at what this run read; a blob put again meanwhile (a refresh
            // elsewhere, or a touch that makes it live) keeps the pack.
            {
                let mut index = self.index.write();
                let same = |a: &Loc, b: &Loc| a.pack == b.pack && a.offset == b.offset;
                let touched = blobs.iter().any(|(h, l)| {
                    doomed(h, l)
                        && index
                            .get(h)
                            .is_some_and(|now| same(now, l) && !doomed(h, now))
                });
                if touched {
                    continue;
                }
                for (h, loc) in blobs.iter().filter(|(h, l)| doomed(h, l)) {
                    if index.get(h).is_some_and(|now| same(now, loc)) {
                        index.remove(h);
                        out.blobs += 1;
                        out.bytes += HEADER as u64 + loc.stored as u64 + 4;
                    }
                }
                for (h, was, to) in moved {
                    if let Some(now) = index.get_mut(&h) {
                        if same(now, &was) {
                            *now = Loc {
                                last_put_ns: now.last_put_ns,
                                ..to
                            };
                        }
                    }
                }
            }
            self.packs.write().remove(&pack_id);
            self.delete_pack(pack_id)?;
        }
        if out.blobs > 0 || out.bytes > 0 {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
            tracing::info!(blobs = out.blobs, bytes = out.bytes, "blob GC");
        }
        Ok(out)
    }

    /// Seals the pack being written (the next [`BlobStore::collect`] may
    /// then consider its blobs whatever its age).
    pub fn seal(&self) -> Result<(), StorageError> {
        let mut w = self.writer.lock();
        self.rotate(&mut w)
    }
}

#[cfg(test)]
mod tests;
