//! The operations of a window: every distinct (service, operation name,
//! span kind) of the spans that started in it, as the Jaeger APIs list
//! them. Sets of several stores merge by union, exactly.

use crate::window::{scan_window_parallel, TimeWindow, WindowScan};
use crate::QueryError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tael_storage::columnar::Cols;
use tael_storage::{Signal, Snapshot};

/// One operation of a service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Operation {
    pub service: String,
    pub name: String,
    /// The stored kind name (`server`, `client`, … `unspecified`).
    pub kind: String,
}

/// The distinct operations of a window, ordered by service, name, kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationSet {
    pub operations: BTreeSet<Operation>,
}

impl OperationSet {
    /// Folds the spans that started inside `window` (of one service when
    /// given), on every core.
    pub fn collect(
        snap: &Snapshot,
        window: TimeWindow,
        service: Option<&str>,
    ) -> Result<OperationSet, QueryError> {
        let scan = WindowScan {
            signal: Signal::Spans,
            window,
            columns: &["service", "operation", "kind"],
            equals: service.map(|s| vec![("service", s)]).unwrap_or_default(),
        };
        let parts = scan_window_parallel(
            snap,
            &scan,
            &BTreeSet::new,
            &|set: &mut BTreeSet<(String, String, String)>, batch, mask| {
                let c = Cols::new(batch);
                let (svc, op, kind) = (c.text("service")?, c.text("operation")?, c.text("kind")?);
                for (i, inside) in mask.iter().enumerate() {
                    let s = svc.value(i);
                    if !inside || service.is_some_and(|want| want != s) {
                        continue;
                    }
                    let (o, k) = (op.value(i), kind.value(i));
                    // Most rows repeat a known triple: look before allocating.
                    if !set.contains(&(s.to_string(), o.to_string(), k.to_string())) {
                        set.insert((s.to_string(), o.to_string(), k.to_string()));
                    }
                }
                Ok(())
            },
        )?;
        let mut out = OperationSet::default();
        for p in parts {
            out.operations
                .extend(p.into_iter().map(|(service, name, kind)| Operation {
                    service,
                    name,
                    kind,
                }));
        }
        Ok(out)
    }

    /// Adds the operations of another store.
    pub fn merge(&mut self, o: OperationSet) {
        self.operations.extend(o.operations);
    }
}
