//! The engine's side of the full-text index (`crate::text`): feeding it
//! the rows applied, its periodic commit and retention, and rebuilding the
//! days whose index is lost from their stored parts.

use super::*;
use crate::text::{day_of, DAY_NS};

/// How often maintenance commits the text index (searches and flushes
/// commit too).
const TEXT_COMMIT_INTERVAL: Duration = Duration::from_secs(2);

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
    /// Indexes the docs of the rows `keep` kept (all without a mask). The
    /// index is derived data: a failure is logged, not returned, since the
    /// rows are already stored.
    pub(super) fn index_text(&self, docs: Vec<(usize, TextDoc)>, keep: Option<&[bool]>, seq: u64) {
        if docs.is_empty() {
            return;
        }
        let docs: Vec<TextDoc> = docs
            .into_iter()
            .filter(|(row, _)| keep.is_none_or(|k| k.get(*row).copied().unwrap_or(false)))
            .map(|(_, d)| d)
            .collect();
        if let Err(e) = self.text.add(&docs, seq) {
            tracing::error!(error = %e, seq, "cannot index text; it is found again after a rebuild of the day");
        }
    }

    /// Makes sure every day of a flush has an index, so an empty one is
    /// not taken for a lost one at the next open.
    pub(super) fn ensure_text_days(&self, metas: &[PartMeta]) -> Result<(), StorageError> {
        for m in metas.iter().filter(|m| m.signal != Signal::Metrics) {
            self.text.ensure_day(day_of(m.hour_ns))?;
        }
        Ok(())
    }

    /// Commits the text index when due, closes idle writers, and drops the
    /// days past both the span and the log retention.
    pub(super) fn maintain_text(&self) -> Result<(), StorageError> {
        {
            let mut last = self.last_text_commit.lock();
            if last.elapsed() < TEXT_COMMIT_INTERVAL {
                return Ok(());
            }
            *last = std::time::Instant::now();
        }
        self.text.maintain()?;
        let keep = self.cfg.span_retention.max(self.cfg.log_retention);
        let cutoff = tael_core::time::now_ns().saturating_sub(keep.as_nanos() as i64);
        let dropped = self.text.drop_before(cutoff);
        if dropped > 0 {
            tracing::info!(days = dropped, "retention dropped text index days");
        }
        Ok(())
    }

    /// Rebuilds the text index of `days` from their parts, on a background
    /// thread (searches miss those days' stored rows until it is done).
    pub(super) fn spawn_text_rebuild(self: &Arc<Self>, days: Vec<i64>) {
        if days.is_empty() {
            return;
        }
        let engine = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tael-text-rebuild".into())
            .spawn(move || {
                for day in days {
                    let started = std::time::Instant::now();
                    match engine.rebuild_text_day(day) {
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

    /// Indexes the stored rows of `day`, one row group at a time. The rows
    /// indexed.
    pub fn rebuild_text_day(&self, day: i64) -> Result<usize, StorageError> {
        let parts = self.state.read().parts.clone();
        let mut rows = 0;
        for p in parts.iter() {
            if p.meta.signal == Signal::Metrics || day_of(p.meta.hour_ns) != day {
                continue;
            }
            for rg in 0..p.num_row_groups() {
                for batch in p.read_group(rg, None)? {
                    let docs = match p.meta.signal {
                        Signal::Spans => crate::text::docs::span_docs(&batch)?,
                        _ => crate::text::docs::log_docs(&batch)?,
                    };
                    rows += docs.len();
                    let docs: Vec<TextDoc> = docs.into_iter().map(|(_, d)| d).collect();
                    self.text.add(&docs, 0)?;
                }
            }
        }
        self.text.finish_rebuild(day)?;
        Ok(rows)
    }
}
