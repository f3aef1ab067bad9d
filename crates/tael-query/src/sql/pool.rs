//! Where SQL runs: a tokio runtime of its own (threads named `tael-sql`),
//! so that a query whose operators compute for long stretches without
//! yielding takes only these threads, never the workers that answer
//! ingest, health checks and the other routes; and how many queries may
//! run at once (more are refused as busy, not queued).
//!
//! The time limit is kept by the caller's runtime: at the deadline the
//! query's cancel flag is set (its operators stop at their next batch, see
//! [`super::cancel`]) and its task is aborted, which drops its plan and,
//! with it, every task DataFusion spawned for it.

use crate::QueryError;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct SqlPool {
    runtime: Option<tokio::runtime::Runtime>,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
}

impl std::fmt::Debug for SqlPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlPool")
            .field("max_concurrent", &self.max_concurrent)
            .finish()
    }
}

impl SqlPool {
    /// A pool of `threads` worker threads admitting `max_concurrent`
    /// queries at once.
    pub fn new(threads: usize, max_concurrent: usize) -> Result<SqlPool, QueryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("tael-sql")
            .enable_all()
            .build()
            .map_err(|e| QueryError::Internal(format!("cannot start the SQL runtime: {e}")))?;
        Ok(SqlPool {
            runtime: Some(runtime),
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_concurrent: max_concurrent.max(1),
        })
    }

    /// Runs `query` on the pool within `timeout`: busy when the pool is
    /// full, a timeout error at the deadline (the query is aborted then;
    /// its slot frees when it has stopped).
    pub async fn run<T, Q>(
        &self,
        timeout: Duration,
        query: impl FnOnce(Arc<AtomicBool>) -> Q,
    ) -> Result<T, QueryError>
    where
        T: Send + 'static,
        Q: Future<Output = Result<T, QueryError>> + Send + 'static,
    {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| {
            QueryError::Busy(format!(
                "{} SQL queries are already running; retry later",
                self.max_concurrent
            ))
        })?;
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| QueryError::Internal("the SQL runtime is shut down".into()))?;
        let cancel = Arc::new(AtomicBool::new(false));
        let query = query(cancel.clone());
        let task = runtime.spawn(async move {
            let out = query.await;
            drop(permit);
            out
        });
        let abort = task.abort_handle();
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if e.is_cancelled() => Err(QueryError::Timeout(format!(
                "query did not finish within {timeout:?}"
            ))),
            Ok(Err(e)) => Err(QueryError::Internal(format!("query failed: {e}"))),
            Err(_) => {
                // The flag stops operators that compute without yielding
                // (see `cancel.rs`); the abort stops the rest.
                cancel.store(true, Ordering::Relaxed);
                abort.abort();
                Err(QueryError::Timeout(format!(
                    "query did not finish within {timeout:?}"
                )))
            }
        }
    }
}

impl Drop for SqlPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks on its threads, which is not allowed
        // inside another runtime: let them stop in the background.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_query_that_never_yields_does_not_hold_the_callers_runtime() {
        let pool = SqlPool::new(1, 1).unwrap();
        let spin = async {
            // Computes for 3 s without ever yielding.
            let until = std::time::Instant::now() + Duration::from_secs(3);
            let mut x: u64 = 0;
            while std::time::Instant::now() < until {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            Ok(x)
        };
        let started = std::time::Instant::now();
        let err = pool
            .run(Duration::from_millis(200), |_| spin)
            .await
            .unwrap_err();
        assert!(matches!(err, QueryError::Timeout(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // The spinning query still holds the only slot: the next is busy.
        let busy = pool.run(Duration::from_secs(1), |_| async { Ok(1) }).await;
        assert!(matches!(busy, Err(QueryError::Busy(_))), "{busy:?}");
    }

    #[tokio::test]
    async fn a_cancelled_query_frees_its_slot() {
        let pool = SqlPool::new(1, 1).unwrap();
        let sleepy = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(0)
        };
        assert!(pool
            .run(Duration::from_millis(50), |_| sleepy)
            .await
            .is_err());
        let mut freed = false;
        for _ in 0..100 {
            if pool
                .run(Duration::from_secs(1), |_| async { Ok(2) })
                .await
                .is_ok()
            {
                freed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(freed, "the aborted query's slot was not released");
    }
}
