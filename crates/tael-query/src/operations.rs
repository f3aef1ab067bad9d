//! The operations of a window: every distinct (service, operation name,
//! span kind) of the spans that started in it, as the Jaeger APIs list
//! them. Sets of several stores merge by union, exactly.

use crate::fasthash::FastSet;
use crate::window::{scan_window_parallel, Interner, TimeWindow, WindowScan};
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
        // Each thread interns the three columns and keeps id triples, so
        // a row costs a lookup, not three strings.
        type Fold = (Interner, FastSet<(u32, u32, u32)>);
        let parts = scan_window_parallel(
            snap,
            &scan,
            &Fold::default,
            &|(names, set): &mut Fold, batch, mask| {
                let c = Cols::new(batch);
                let svc = names.column(&c.text("service")?);
                let op = names.column(&c.text("operation")?);
                let kind = names.column(&c.text("kind")?);
                let want = service.map(|s| names.id(s));
                for (i, inside) in mask.iter().enumerate() {
                    if *inside && want.is_none_or(|w| w == svc[i]) {
                        set.insert((svc[i], op[i], kind[i]));
                    }
                }
                Ok(())
            },
        )?;
        let mut out = OperationSet::default();
        for (names, set) in parts {
            out.operations
                .extend(set.into_iter().map(|(s, o, k)| Operation {
                    service: names.name(s).to_string(),
                    name: names.name(o).to_string(),
                    kind: names.name(k).to_string(),
                }));
        }
        Ok(out)
    }

    /// Adds the operations of another store.
    pub fn merge(&mut self, o: OperationSet) {
        self.operations.extend(o.operations);
    }
}
