use super::search::FEW_KEYS;
use super::*;

fn store(dir: &Path) -> Arc<BlobStore> {
    Arc::new(BlobStore::open_in(&dir.join("blobs")))
}

fn doc(kind: Signal, time_ns: i64, service: &str, span: &str, texts: &[&str]) -> TextDoc {
    TextDoc {
        kind,
        time_ns,
        service: service.into(),
        trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
        span_id: span.into(),
        texts: texts.iter().map(|t| Text::inline(t)).collect(),
    }
}

fn query(text: &str) -> TextQuery<'_> {
    TextQuery {
        text,
        kind: Signal::Spans,
        service: None,
        since_ns: None,
        until_ns: None,
        limit: 10,
    }
}

fn spans_of(h: &TextHits) -> Vec<&str> {
    h.hits.iter().map(|h| h.span_id.as_str()).collect()
}

const T0: i64 = 1_764_000_000_000_000_000;

#[test]
fn finds_newest_first_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, lost) = TextIndex::open(&dir.path().join("text"), store(dir.path())).unwrap();
    assert!(lost.is_empty());
    let prompt = "What is the refund policy for damaged parcels?";
    idx.add(
        vec![
            doc(
                Signal::Spans,
                T0,
                "chat",
                "a1",
                &[prompt, "You are helpful."],
            ),
            doc(Signal::Spans, T0 + 5, "chat", "a2", &[prompt]),
            doc(
                Signal::Spans,
                T0 + 9,
                "agent",
                "a3",
                &["Shipping policy: 3 days"],
            ),
            doc(Signal::Logs, T0 + 7, "chat", "", &["refund issued"]),
            // The next day.
            doc(
                Signal::Spans,
                T0 + DAY_NS,
                "chat",
                "b1",
                &["a refund request"],
            ),
        ],
        1,
        false,
    );
    let h = idx.search(&query("refund policy")).unwrap();
    assert_eq!(spans_of(&h), ["a2", "a1"]);
    assert!(h.complete);
    assert_eq!(
        spans_of(&idx.search(&query("refund")).unwrap()),
        ["b1", "a2", "a1"]
    );
    assert_eq!(
        spans_of(&idx.search(&query("\"policy for\"")).unwrap()),
        ["a2", "a1"]
    );
    assert_eq!(
        spans_of(&idx.search(&query("policy -refund")).unwrap()),
        ["a3"]
    );
    assert_eq!(
        spans_of(&idx.search(&query("\"refund pol\"*")).unwrap()),
        ["a2", "a1"]
    );
    let mut q = query("policy");
    q.service = Some("agent");
    assert_eq!(spans_of(&idx.search(&q).unwrap()), ["a3"]);
    let mut q = query("refund");
    q.since_ns = Some(T0 + 1);
    q.until_ns = Some(T0 + DAY_NS);
    assert_eq!(spans_of(&idx.search(&q).unwrap()), ["a2"]);
    let mut q = query("refund");
    q.limit = 2;
    let h = idx.search(&q).unwrap();
    assert_eq!(spans_of(&h), ["b1", "a2"]);
    assert!(!h.complete);
    let mut q = query("refund");
    q.kind = Signal::Logs;
    let h = idx.search(&q).unwrap();
    assert_eq!(h.hits.len(), 1);
    assert_eq!(h.hits[0].keys, vec![Text::inline("refund issued").key]);
    // A text repeated by many rows is one text document: 2 distinct texts
    // on the first day's spans, 1 log text, plus 4 row documents.
    let first_day = idx.shared.days.read().get(&day_of(T0)).cloned().unwrap();
    assert_eq!(first_day.reader.searcher().num_docs(), 4 + 4);
    // `:` is text, not a field: "policy: 3" is the words policy and 3.
    assert_eq!(spans_of(&idx.search(&query("policy: 3")).unwrap()), ["a3"]);
    assert!(idx.search(&query("kind:t")).unwrap().hits.is_empty());
    assert!(matches!(
        idx.search(&query("(refund")),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        idx.search(&query("  ")),
        Err(StorageError::InvalidArgument(_))
    ));
    let mut hl = idx.highlighter("refund policy").unwrap();
    let s = hl.snippet(day_of(T0), prompt).unwrap();
    assert_eq!(
        s.snippet,
        "What is the **refund** **policy** for damaged parcels"
    );
    assert_eq!(
        &s.fragment[s.highlights[0][0]..s.highlights[0][1]],
        "refund"
    );
    assert!(hl.snippet(day_of(T0), "nothing here").is_none());
}

#[test]
fn reopen_keeps_commits_and_replay_skips_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text");
    let alpha = |span: &str| vec![doc(Signal::Spans, T0, "s", span, &["alpha"])];
    {
        let (idx, _) = TextIndex::open(&path, store(dir.path())).unwrap();
        idx.add(alpha("a1"), 7, false);
        // Dropping the index commits what was queued.
    }
    let (idx, lost) = TextIndex::open(&path, store(dir.path())).unwrap();
    assert!(lost.is_empty());
    // Replay: the day holds 7 already; 8 is new.
    idx.add(alpha("a1"), 7, true);
    idx.add(alpha("a2"), 8, true);
    assert_eq!(idx.search(&query("alpha")).unwrap().hits.len(), 2);
    drop(idx);
    // The WAL ends at 6 (a power loss undid 7 and 8): their sequence
    // numbers come again and are indexed.
    let (idx, _) = TextIndex::open(&path, store(dir.path())).unwrap();
    idx.clamp_committed(6);
    idx.add(alpha("c7"), 7, true);
    let mut got = spans_of(&idx.search(&query("alpha")).unwrap())
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    got.sort();
    assert_eq!(got, ["a1", "a2", "c7"]);
}

#[test]
fn retention_drops_days_and_lost_days_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text");
    {
        let (idx, _) = TextIndex::open(&path, store(dir.path())).unwrap();
        idx.add(
            vec![
                doc(Signal::Spans, T0, "s", "old", &["alpha"]),
                doc(Signal::Spans, T0 + 2 * DAY_NS, "s", "new", &["alpha"]),
            ],
            1,
            false,
        );
        idx.commit();
        assert_eq!(idx.drop_before(T0 + DAY_NS + 1), 1);
        assert_eq!(spans_of(&idx.search(&query("alpha")).unwrap()), ["new"]);
        assert_eq!(idx.days(), vec![day_of(T0) + 2]);
        idx.begin_rebuild(day_of(T0) + 5).unwrap();
    }
    // A damaged day and an unfinished rebuild are reported (and removed).
    let day_dir = path.join(day_name(day_of(T0) + 2));
    std::fs::write(day_dir.join("meta.json"), b"{not json").unwrap();
    let (idx, mut lost) = TextIndex::open(&path, store(dir.path())).unwrap();
    lost.sort();
    assert_eq!(lost, vec![day_of(T0) + 2, day_of(T0) + 5]);
    assert!(idx.days().is_empty());
    assert!(!day_dir.exists());
}

#[test]
fn blob_texts_are_read_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = store(dir.path());
    let content = "a long system prompt about parcels ".repeat(50);
    let hash = blobs.put(content.as_bytes()).unwrap();
    let (idx, _) = TextIndex::open(&dir.path().join("text"), blobs).unwrap();
    let mut d = doc(Signal::Spans, T0, "s", "a1", &[]);
    d.texts.push(Text {
        key: docs::key_of(&hash),
        content: TextContent::Blob(hash),
    });
    idx.add(vec![d], 1, false);
    let h = idx.search(&query("parcels")).unwrap();
    assert_eq!(spans_of(&h), ["a1"]);
    assert_eq!(h.hits[0].keys, vec![Text::inline(&content).key]);
    // Indexed without positions: a phrase finds the text by its words and
    // the phrase check decides.
    for (q, holds) in [("\"system prompt\"", true), ("\"prompt system\"", false)] {
        let h = idx.search(&query(q)).unwrap();
        assert_eq!(spans_of(&h), ["a1"], "{q}");
        let mut check = idx.phrase_check(q).unwrap().expect("a phrase to check");
        assert_eq!(check.matches(&content), holds, "{q}");
    }
    assert!(idx.phrase_check("system prompt").unwrap().is_none());
}

#[test]
fn day_names_round_trip() {
    for day in [0, day_of(T0), day_of(T0) + 400] {
        assert_eq!(parse_day_name(&day_name(day)), Some(day));
    }
    assert_eq!(parse_day_name("2026-13-01"), None);
    assert_eq!(parse_day_name("notaday.rb"), None);
}

#[test]
fn broad_queries_read_the_key_column() {
    let dir = tempfile::tempdir().unwrap();
    let (idx, _) = TextIndex::open(&dir.path().join("text"), store(dir.path())).unwrap();
    // More distinct matching texts than go through key terms.
    let n = FEW_KEYS as i64 + 50;
    let docs: Vec<TextDoc> = (0..n)
        .map(|i| {
            let service = if i % 2 == 0 { "even" } else { "odd" };
            let text = format!("common words and a number {i}");
            doc(Signal::Spans, T0 + i, service, &format!("s{i}"), &[&text])
        })
        .collect();
    // A row with a text that does not match.
    let mut all = docs;
    all.push(doc(Signal::Spans, T0 + n, "even", "other", &["unrelated"]));
    idx.add(all, 1, false);
    let mut q = query("common");
    q.limit = 3;
    let want: Vec<String> = (0..3).map(|k| format!("s{}", n - 1 - k)).collect();
    assert_eq!(spans_of(&idx.search(&q).unwrap()), want);
    q.service = Some("even");
    let newest_even = (0..n).rev().find(|i| i % 2 == 0).unwrap();
    assert_eq!(
        spans_of(&idx.search(&q).unwrap())[0],
        format!("s{newest_even}")
    );
    q.service = None;
    q.until_ns = Some(T0 + 10);
    assert_eq!(spans_of(&idx.search(&q).unwrap()), ["s9", "s8", "s7"]);
    // One text: through its term.
    assert_eq!(
        spans_of(&idx.search(&query("\"number 7\"")).unwrap()),
        ["s7"]
    );
}
