//! Running a query's independent work items on every core: one thread per
//! core (at most one per item) takes the next item and folds it into its
//! own state; the states come back for the caller to merge.

use crate::QueryError;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Folds work item `i` into a thread's state.
pub(crate) type Step<'a, S> = dyn Fn(&mut S, usize) -> Result<(), QueryError> + Sync + 'a;

/// Folds items `0..len` on every core (see the module doc); the first
/// error wins. The deadline of the calling thread (see
/// [`crate::deadline`]) is checked before each item.
pub(crate) fn fold_items<S: Send>(
    len: usize,
    init: &(dyn Fn() -> S + Sync),
    step: &Step<'_, S>,
) -> Result<Vec<S>, QueryError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(len)
        .max(1);
    let next = AtomicUsize::new(0);
    let deadline = crate::deadline::current();
    let run = || -> Result<S, QueryError> {
        let mut state = init();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= len {
                return Ok(state);
            }
            crate::deadline::check(deadline)?;
            step(&mut state, i)?;
        }
    };
    if threads == 1 {
        return Ok(vec![run()?]);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(run)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(QueryError::Internal("query thread panicked".into())))
            })
            .collect()
    })
}
