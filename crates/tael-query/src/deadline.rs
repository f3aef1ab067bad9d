//! The time limit of a report or search running on the blocking pool.
//! `LocalStore` sets it for the closure it runs (`TAEL_QUERY_TIMEOUT`);
//! the scans read it once where they start and check it before each work
//! item (a memtable chunk or a Parquet row group), so a fold over a long
//! window stops with a timeout error instead of holding cores until it is
//! done. Folds on several threads capture it from the thread that starts
//! them.

use crate::QueryError;
use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// A deadline and the limit it came from (for the message).
pub(crate) type Deadline = Option<(Instant, Duration)>;

/// Runs `f` with a deadline `limit` from now on this thread.
pub(crate) fn within<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let before = DEADLINE.with(|d| d.replace(Some((Instant::now() + limit, limit))));
    let out = f();
    DEADLINE.with(|d| d.set(before));
    out
}

/// The deadline of the work running on this thread, if any.
pub(crate) fn current() -> Deadline {
    DEADLINE.with(|d| d.get())
}

/// A timeout error once `deadline` has passed.
pub(crate) fn check(deadline: Deadline) -> Result<(), QueryError> {
    match deadline {
        Some((at, limit)) if Instant::now() >= at => Err(QueryError::Timeout(format!(
            "the query did not finish within {limit:?} (TAEL_QUERY_TIMEOUT)"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_deadline_is_a_timeout_and_is_scoped() {
        assert!(check(current()).is_ok(), "no deadline outside");
        let r = within(Duration::ZERO, || check(current()));
        assert!(matches!(r, Err(QueryError::Timeout(_))));
        assert!(current().is_none(), "restored after");
        let r = within(Duration::from_secs(60), || check(current()));
        assert!(r.is_ok());
    }
}
