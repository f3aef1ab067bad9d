//! The engine's side of the full-text index (`crate::text`): queueing the
//! rows applied, retention, and rebuilding the days whose index is lost
//! from their stored parts.

use super::*;
use crate::text::{day_of, DAY_NS};

/// How often text index retention runs.
const TEXT_RETENTION_INTERVAL: Duration = Duration::from_secs(10);

/// The days that have span or log parts but no text index.
pub(super) fn days_without_index(manifest: &Manifest, text: &TextIndex) -> Vec<i64> {
    let have: std::collections::HashSet<i64> = text.days().into_iter().collect();
    let mut days: Vec<i64> = manifest
        .parts
        .iter()
        .filter(|p| p.signal != Signal::Metrics)
        .map(|p| day_of(p.hour_ns))
        .filter(|d| !have.contains(d))
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}

impl Engine {
    /// Queues the docs of the rows `keep` kept (all without a mask).
    pub(super) fn index_text(
        &self,
        docs: Vec<(usize, TextDoc)>,
        keep: Option<&[bool]>,
        seq: u64,
        replay: bool,
    ) {
        if docs.is_empty() {
            return;
        }
        let docs: Vec<TextDoc> = docs
            .into_iter()
            .filter(|(row, _)| keep.is_none_or(|k| k.get(*row).copied().unwrap_or(false)))
            .map(|(_, d)| d)
            .collect();
        self.text.add(docs, seq, replay);
    }

    /// Makes sure every day of a flush has an index, so an empty one is
    /// not taken for a lost one at the next open. A failure is logged: at
    /// worst the day is rebuilt at the next open, and a flush never waits
    /// on the index.
    pub(super) fn ensure_text_days(&self, metas: &[PartMeta]) {
        for m in metas.iter().filter(|m| m.signal != Signal::Metrics) {
            if let Err(e) = self.text.ensure_day(day_of(m.hour_ns)) {
                tracing::error!(error = %e, "cannot create a text index day; it is rebuilt at the next start");
            }
        }
    }

    /// Drops the text index days past both the span and the log retention
    /// (when due).
    pub(super) fn maintain_text(&self) {
        {
            let mut last = self.last_text_retention.lock();
            if last.elapsed() < TEXT_RETENTION_INTERVAL {
                return;
            }
            *last = std::time::Instant::now();
        }
        let keep = self.cfg.span_retention.max(self.cfg.log_retention);
        let cutoff = tael_core::time::now_ns().saturating_sub(keep.as_nanos() as i64);
        let dropped = self.text.drop_before(cutoff);
        if dropped > 0 {
            tracing::info!(days = dropped, "retention dropped text index days");
        }
    }

    /// Rebuilds the text index of `days` from `parts` (the parts of before
    /// WAL replay) on a background thread; searches miss those days'
    /// stored rows until it is done.
    pub(super) fn spawn_text_rebuild(self: &Arc<Self>, days: Vec<i64>, parts: Arc<Vec<PartRef>>) {
        if days.is_empty() {
            return;
        }
        let engine = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tael-text-rebuild".into())
            .spawn(move || {
                for day in days {
                    let started = std::time::Instant::now();
                    match engine.rebuild_text_day(day, &parts) {
                        Ok(rows) => tracing::info!(
                            day = %tael_core::time::format_rfc3339(day * DAY_NS),
                            rows,
                            ms = started.elapsed().as_millis() as u64,
                            "rebuilt the text index of a day"
                        ),
                        Err(e) => tracing::error!(error = %e, "text index rebuild failed; it is retried at the next start"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the text index rebuild");
        }
    }

    /// Indexes the rows of `day` in `parts`, one row group at a time. The
    /// rows indexed.
    fn rebuild_text_day(&self, day: i64, parts: &[PartRef]) -> Result<usize, StorageError> {
        let mut rows = 0;
        for p in parts {
            if p.meta.signal == Signal::Metrics || day_of(p.meta.hour_ns) != day {
                continue;
            }
            for rg in 0..p.num_row_groups() {
                for batch in p.read_group(rg, None)? {
                    let docs = crate::text::docs::docs_of(p.meta.signal, &batch)?;
                    rows += docs.len();
                    self.text
                        .add(docs.into_iter().map(|(_, d)| d).collect(), 0, false);
                }
            }
        }
        self.text.finish_rebuild(day)?;
        Ok(rows)
    }
}
