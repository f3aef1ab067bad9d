//! Cancelling a running SQL query where it computes. Dropping a query's
//! task stops it only when its code next yields to the runtime, and
//! DataFusion operators that produce from memory (cross and nested-loop
//! joins over collected inputs, aggregations over them) can go on for
//! hours between yields. So every operator of the physical plan is
//! wrapped: before each batch passes up from it, the query's cancel flag
//! is read, and once it is set the batch is replaced by an error. A
//! running query then stops within one batch of the operator that is
//! working, wherever that is in the plan.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::ReplaceChildrenOptions;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::Stream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a cancelled query's operators answer with.
pub const CANCELLED: &str = "the query was cancelled at its time limit";

/// Wraps every operator of `plan` so that it stops once `cancel` is set.
pub fn cancellable(
    plan: Arc<dyn ExecutionPlan>,
    cancel: &Arc<AtomicBool>,
) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(plan
        .transform_up(|node| {
            Ok(Transformed::yes(Arc::new(CancellableExec {
                input: node,
                cancel: cancel.clone(),
            }) as Arc<dyn ExecutionPlan>))
        })?
        .data)
}

#[derive(Debug)]
struct CancellableExec {
    input: Arc<dyn ExecutionPlan>,
    cancel: Arc<AtomicBool>,
}

impl DisplayAs for CancellableExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "CancellableExec")
    }
}

impl ExecutionPlan for CancellableExec {
    fn name(&self) -> &str {
        "CancellableExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "CancellableExec takes one child, got {}",
                children.len()
            )));
        }
        Ok(Arc::new(CancellableExec {
            input: children.swap_remove(0),
            cancel: self.cancel.clone(),
        }))
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(CancellableStream {
            inner: self.input.execute(partition, context)?,
            cancel: self.cancel.clone(),
        }))
    }
}

struct CancellableStream {
    inner: SendableRecordBatchStream,
    cancel: Arc<AtomicBool>,
}

impl Stream for CancellableStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.cancel.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(DataFusionError::Execution(CANCELLED.into()))));
        }
        let next = self.inner.as_mut().poll_next(cx);
        match next {
            Poll::Ready(Some(Ok(_))) if self.cancel.load(Ordering::Relaxed) => {
                Poll::Ready(Some(Err(DataFusionError::Execution(CANCELLED.into()))))
            }
            other => other,
        }
    }
}

impl RecordBatchStream for CancellableStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}
