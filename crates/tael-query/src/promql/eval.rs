//! PromQL evaluation, with Prometheus's semantics:
//!
//! - an instant selector at `t` takes each series' newest sample in
//!   `(t − 5m, t]` (the lookback), unless that sample is a staleness marker;
//!   a range selector `x[r]` takes the samples in `(t − r, t]` without
//!   markers; `offset` shifts `t` back, `@` pins it (`@ start()`, `@ end()`);
//! - subqueries evaluate their inner expression at the multiples of their
//!   step (default one minute) inside the range;
//! - binary operators match vectors on all labels but the name, or `on` /
//!   `ignoring` lists, one-to-one unless `group_left` / `group_right`; set
//!   operators `and`, `or`, `unless`; comparisons filter unless `bool`;
//!   arithmetic and `bool` comparisons drop the metric name;
//! - aggregations group `by` / `without` labels.
//!
//! Every selector's series are loaded once for the whole query (the union
//! of the times all steps need), then each step is evaluated in memory:
//! [`Evaluator::plan`] lists what the selectors need, a [`Store`] loads it
//! ([`Store::series`], all selectors in one call), and
//! [`Evaluator::supply`] hands the series to the evaluator.
//!
//! [`Store`]: crate::store::Store
//! [`Store::series`]: crate::store::Store::series

use super::series::{is_stale, Loaded};
use super::value::{Labels, Sample, SeriesRange, Value, METRIC_NAME};
use crate::fasthash::FastMap;
use crate::store::SeriesSelector;
use crate::QueryError;
use parking_lot::Mutex;
use promql_parser::label::Matcher;
use promql_parser::parser::token::*;
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Expr, LabelModifier, MatrixSelector, Offset,
    SubqueryExpr, VectorMatchCardinality, VectorSelector,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;
/// Samples a query may load in all.
pub const MAX_SAMPLES: usize = 50_000_000;

pub(crate) fn exec_err(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

/// A duration in ms (saturating: absurd durations are huge, not wrapped).
fn ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Most points one subquery evaluation may produce (per series).
pub const MAX_SUBQUERY_STEPS: i64 = 100_000;

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => ms(d),
        Some(Offset::Neg(d)) => ms(d).saturating_neg(),
    }
}

/// The evaluator of one query. Series are keyed by their selector's
/// address in the AST, so the expression must stay where it is (behind an
/// `Arc` or a `Box`) from [`Evaluator::plan`] to the last evaluation.
pub struct Evaluator {
    /// Series per selector, keyed by the selector's address in the AST.
    data: HashMap<usize, Arc<Vec<SeriesRange>>>,
    pub start_ms: i64,
    pub end_ms: i64,
    deadline: std::time::Instant,
    timeout: std::time::Duration,
    /// Label sets derived from others, by (derivation, address of the
    /// input set); the input `Arc` is kept in the value so that its address
    /// is not reused while memoised. A range query thus derives each set
    /// once rather than at every step.
    derived: Mutex<DerivedLabels>,
    /// Where each range selector's windows were at its last evaluation:
    /// a range query moves them forward step by step instead of searching
    /// every series at every step.
    windows: Mutex<FastMap<usize, Windows>>,
}

/// The windows of one range selector at its last evaluation time.
struct Windows {
    from: i64,
    to: i64,
    /// Per loaded series: the window's `lo..hi` in its points.
    at: Vec<(usize, usize)>,
}

/// (derivation, input address) → (input, derived).
type DerivedLabels = FastMap<(usize, usize), (Arc<Labels>, Arc<Labels>)>;

/// A range window's visitor: a series' labels and its samples.
pub(crate) type RangeVisit<'a> = dyn FnMut(&Arc<Labels>, &[(i64, f64)]) + 'a;

/// Most derived label sets memoised per query.
const MAX_DERIVED: usize = 1 << 16;

/// The derivation that drops `__name__` (others are keyed by the address of
/// their AST node).
pub(crate) const DROP_NAME: usize = 0;

fn key<T>(x: &T) -> usize {
    x as *const T as usize
}

/// A selector a query needs, with its place in the AST.
pub struct Planned {
    key: usize,
    pub selector: SeriesSelector,
}

impl Evaluator {
    /// An evaluator for steps in `[start_ms, end_ms]`; its time limit runs
    /// from now (loading included).
    pub fn new(start_ms: i64, end_ms: i64, timeout: std::time::Duration) -> Self {
        Evaluator {
            data: HashMap::new(),
            start_ms,
            end_ms,
            deadline: std::time::Instant::now() + timeout,
            timeout,
            derived: Mutex::new(FastMap::default()),
            windows: Mutex::new(FastMap::default()),
        }
    }

    /// `f(l)`, memoised per (`kind`, `l`'s address).
    pub(crate) fn derive(
        &self,
        kind: usize,
        l: &Arc<Labels>,
        f: impl FnOnce(&Labels) -> Labels,
    ) -> Arc<Labels> {
        let k = (kind, Arc::as_ptr(l) as usize);
        if let Some((_, d)) = self.derived.lock().get(&k) {
            return d.clone();
        }
        let d = Arc::new(f(l));
        let mut memo = self.derived.lock();
        if memo.len() < MAX_DERIVED {
            memo.insert(k, (l.clone(), d.clone()));
        }
        d
    }

    /// `l` without `__name__` (memoised).
    pub(crate) fn without_name(&self, l: &Arc<Labels>) -> Arc<Labels> {
        self.derive(DROP_NAME, l, Labels::drop_name)
    }

    /// Fails once the query has run past its time limit.
    pub fn check_deadline(&self) -> Result<(), QueryError> {
        if std::time::Instant::now() > self.deadline {
            return Err(QueryError::Timeout(format!(
                "query timed out after {:?}",
                self.timeout
            )));
        }
        Ok(())
    }

    fn at_time(&self, at: &Option<AtModifier>, t: i64) -> i64 {
        match at {
            None => t,
            Some(AtModifier::Start) => self.start_ms,
            Some(AtModifier::End) => self.end_ms,
            Some(AtModifier::At(st)) => match st.duration_since(UNIX_EPOCH) {
                Ok(d) => ms(&d),
                Err(e) => ms(&e.duration()).saturating_neg(),
            },
        }
    }

    fn at_range(&self, at: &Option<AtModifier>, from: i64, to: i64) -> (i64, i64) {
        match at {
            None => (from, to),
            Some(_) => {
                let t = self.at_time(at, from);
                (t, t)
            }
        }
    }

    /// The end (after `@` and `offset`) and length of a range argument's
    /// window when evaluated at `t`.
    pub(crate) fn range_window(&self, e: &Expr, t: i64) -> (i64, i64) {
        match e {
            Expr::MatrixSelector(m) => (
                self.at_time(&m.vs.at, t)
                    .saturating_sub(offset_ms(&m.vs.offset)),
                ms(&m.range),
            ),
            Expr::Subquery(s) => (
                self.at_time(&s.at, t).saturating_sub(offset_ms(&s.offset)),
                ms(&s.range),
            ),
            Expr::Paren(p) => self.range_window(&p.expr, t),
            _ => (t, 0),
        }
    }

    fn plan_selector(
        &self,
        vs: &VectorSelector,
        from: i64,
        to: i64,
        range: i64,
        out: &mut Vec<Planned>,
    ) -> Result<(), QueryError> {
        let (f, t) = self.at_range(&vs.at, from, to);
        let off = offset_ms(&vs.offset);
        let mut matchers: Vec<Matcher> = vs.matchers.matchers.clone();
        if let Some(name) = &vs.name {
            matchers.push(Matcher::new(
                promql_parser::label::MatchOp::Equal,
                METRIC_NAME,
                name,
            ));
        }
        if !vs.matchers.or_matchers.is_empty() {
            return Err(QueryError::InvalidArgument(
                "\"or\" inside a selector is not supported".into(),
            ));
        }
        out.push(Planned {
            key: key(vs),
            selector: SeriesSelector {
                matchers,
                from_ms: f.saturating_sub(off).saturating_sub(range),
                to_ms: t.saturating_sub(off),
            },
        });
        Ok(())
    }

    /// The series every selector of `e` needs for evaluations at times in
    /// `[from, to]`.
    pub fn plan(&self, e: &Expr, from: i64, to: i64) -> Result<Vec<Planned>, QueryError> {
        let mut out = Vec::new();
        self.plan_into(e, from, to, &mut out)?;
        Ok(out)
    }

    /// Hands over the series of the planned selectors (in plan order).
    pub fn supply(&mut self, planned: Vec<Planned>, loaded: Vec<Loaded>) -> Result<(), QueryError> {
        if planned.len() != loaded.len() {
            return Err(QueryError::Internal(format!(
                "{} selectors planned, {} loaded",
                planned.len(),
                loaded.len()
            )));
        }
        for (p, l) in planned.into_iter().zip(loaded) {
            {
                let mut memo = self.derived.lock();
                for (s, u) in l.series.iter().zip(l.unnamed) {
                    if let Some(u) = u.filter(|_| memo.len() < MAX_DERIVED) {
                        let k = (DROP_NAME, Arc::as_ptr(&s.labels) as usize);
                        memo.insert(k, (s.labels.clone(), u));
                    }
                }
            }
            self.data.insert(p.key, Arc::new(l.series));
        }
        self.check_deadline()
    }

    fn plan_into(
        &self,
        e: &Expr,
        from: i64,
        to: i64,
        out: &mut Vec<Planned>,
    ) -> Result<(), QueryError> {
        match e {
            Expr::VectorSelector(vs) => self.plan_selector(vs, from, to, LOOKBACK_MS, out),
            Expr::MatrixSelector(ms_) => self.plan_selector(&ms_.vs, from, to, ms(&ms_.range), out),
            Expr::Subquery(sq) => {
                let (f, t) = self.at_range(&sq.at, from, to);
                let off = offset_ms(&sq.offset);
                self.plan_into(
                    &sq.expr,
                    f.saturating_sub(off).saturating_sub(ms(&sq.range)),
                    t.saturating_sub(off),
                    out,
                )
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.plan_into(p, from, to, out)?;
                }
                self.plan_into(&a.expr, from, to, out)
            }
            Expr::Unary(u) => self.plan_into(&u.expr, from, to, out),
            Expr::Binary(b) => {
                self.plan_into(&b.lhs, from, to, out)?;
                self.plan_into(&b.rhs, from, to, out)
            }
            Expr::Paren(p) => self.plan_into(&p.expr, from, to, out),
            Expr::Call(c) => {
                for a in &c.args.args {
                    self.plan_into(a, from, to, out)?;
                }
                Ok(())
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::Extension(_) => Err(QueryError::InvalidArgument("unsupported expression".into())),
        }
    }

    fn series_of(&self, vs: &VectorSelector) -> Result<Arc<Vec<SeriesRange>>, QueryError> {
        self.data
            .get(&key(vs))
            .cloned()
            .ok_or_else(|| QueryError::Internal("selector was not prepared".into()))
    }

    fn instant_selector(&self, vs: &VectorSelector, t: i64) -> Result<Vec<Sample>, QueryError> {
        let ref_t = self
            .at_time(&vs.at, t)
            .saturating_sub(offset_ms(&vs.offset));
        let series = self.series_of(vs)?;
        let mut out = Vec::new();
        for s in series.iter() {
            let idx = s.points.partition_point(|p| p.0 <= ref_t);
            if idx == 0 {
                continue;
            }
            let (pt, pv) = s.points[idx - 1];
            if pt > ref_t.saturating_sub(LOOKBACK_MS) && !is_stale(pv) {
                out.push(Sample {
                    labels: s.labels.clone(),
                    value: pv,
                });
            }
        }
        Ok(out)
    }

    /// Calls `f` with each loaded series of `m` that has samples in its
    /// window at `t`, and those samples without staleness markers
    /// (borrowed from the loaded series unless markers had to go).
    pub(crate) fn for_each_range(
        &self,
        m: &MatrixSelector,
        t: i64,
        f: &mut RangeVisit<'_>,
    ) -> Result<(), QueryError> {
        let ref_t = self
            .at_time(&m.vs.at, t)
            .saturating_sub(offset_ms(&m.vs.offset));
        let from = ref_t.saturating_sub(ms(&m.range));
        let series = self.series_of(&m.vs)?;
        // Taken out while `f` runs (which may evaluate other selectors).
        let k = key(&m.vs);
        let taken = self.windows.lock().remove(&k);
        let mut w = taken.unwrap_or(Windows {
            from: i64::MAX,
            to: i64::MAX,
            at: Vec::new(),
        });
        // Later than last time (each step of a range query): move each
        // window forward; otherwise search.
        let forward = w.at.len() == series.len() && from >= w.from && ref_t >= w.to;
        if !forward {
            w.at.clear();
            w.at.resize(series.len(), (0, 0));
        }
        (w.from, w.to) = (from, ref_t);
        let mut scratch = Vec::new();
        for (s, at) in series.iter().zip(w.at.iter_mut()) {
            let (mut lo, mut hi) = *at;
            if forward {
                while hi < s.points.len() && s.points[hi].0 <= ref_t {
                    hi += 1;
                }
                while lo < hi && s.points[lo].0 <= from {
                    lo += 1;
                }
            } else {
                hi = s.points.partition_point(|p| p.0 <= ref_t);
                lo = s.points[..hi].partition_point(|p| p.0 <= from);
            }
            *at = (lo, hi);
            let window = &s.points[lo..hi];
            if window.iter().any(|p| is_stale(p.1)) {
                scratch.clear();
                scratch.extend(window.iter().filter(|p| !is_stale(p.1)));
                if !scratch.is_empty() {
                    f(&s.labels, &scratch);
                }
            } else if !window.is_empty() {
                f(&s.labels, window);
            }
        }
        self.windows.lock().insert(k, w);
        Ok(())
    }

    fn range_selector(&self, m: &MatrixSelector, t: i64) -> Result<Vec<SeriesRange>, QueryError> {
        let mut out = Vec::new();
        self.for_each_range(m, t, &mut |labels, points| {
            out.push(SeriesRange {
                labels: labels.clone(),
                points: points.to_vec(),
            })
        })?;
        Ok(out)
    }

    fn subquery(&self, sq: &SubqueryExpr, t: i64) -> Result<Vec<SeriesRange>, QueryError> {
        let ref_t = self
            .at_time(&sq.at, t)
            .saturating_sub(offset_ms(&sq.offset));
        let step = sq
            .step
            .as_ref()
            .map(ms)
            .unwrap_or(DEFAULT_SUBQUERY_STEP_MS)
            .max(1);
        let range = ms(&sq.range);
        if range / step > MAX_SUBQUERY_STEPS {
            return Err(exec_err(format!(
                "subquery range / step exceeds {MAX_SUBQUERY_STEPS} points; use a larger step"
            )));
        }
        let from = ref_t.saturating_sub(range);
        let mut ts = from.div_euclid(step).saturating_mul(step);
        if ts <= from {
            ts = ts.saturating_add(step);
        }
        let mut acc: HashMap<Arc<Labels>, Vec<(i64, f64)>> = HashMap::new();
        let mut order = Vec::new();
        while ts <= ref_t {
            match self.eval(&sq.expr, ts)? {
                Value::Vector(v) => {
                    for s in v {
                        let e = acc.entry(s.labels.clone()).or_insert_with(|| {
                            order.push(s.labels.clone());
                            Vec::new()
                        });
                        e.push((ts, s.value));
                    }
                }
                Value::Scalar(x) => {
                    let l = Arc::new(Labels::default());
                    let e = acc.entry(l.clone()).or_insert_with(|| {
                        order.push(l.clone());
                        Vec::new()
                    });
                    e.push((ts, x));
                }
                other => {
                    return Err(QueryError::InvalidArgument(format!(
                        "subquery is only allowed on instant vector, got {}",
                        other.type_name()
                    )))
                }
            }
            self.check_deadline()?;
            match ts.checked_add(step) {
                Some(n) => ts = n,
                None => break,
            }
        }
        Ok(order
            .into_iter()
            .map(|l| SeriesRange {
                points: acc.remove(&l).unwrap_or_default(),
                labels: l,
            })
            .collect())
    }

    /// Evaluates `e` at time `t` (ms).
    pub fn eval(&self, e: &Expr, t: i64) -> Result<Value, QueryError> {
        Ok(match e {
            Expr::NumberLiteral(n) => Value::Scalar(n.val),
            Expr::StringLiteral(s) => Value::String(s.val.clone()),
            Expr::Paren(p) => self.eval(&p.expr, t)?,
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(x) => Value::Scalar(-x),
                Value::Vector(v) => unique(Value::Vector(
                    v.into_iter()
                        .map(|s| Sample {
                            labels: self.without_name(&s.labels),
                            value: -s.value,
                        })
                        .collect(),
                ))?,
                other => {
                    return Err(QueryError::InvalidArgument(format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                        other.type_name()
                    )))
                }
            },
            Expr::VectorSelector(vs) => Value::Vector(self.instant_selector(vs, t)?),
            Expr::MatrixSelector(m) => Value::Matrix(self.range_selector(m, t)?),
            Expr::Subquery(sq) => Value::Matrix(self.subquery(sq, t)?),
            Expr::Aggregate(a) => self.aggregate(a, t)?,
            Expr::Binary(b) => unique(self.binary(b, t)?)?,
            Expr::Call(c) => unique(super::functions::call(self, c, t)?)?,
            Expr::Extension(_) => {
                return Err(QueryError::InvalidArgument("unsupported expression".into()))
            }
        })
    }

    pub(crate) fn eval_vector(&self, e: &Expr, t: i64) -> Result<Vec<Sample>, QueryError> {
        match self.eval(e, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(QueryError::InvalidArgument(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    pub(crate) fn eval_scalar(&self, e: &Expr, t: i64) -> Result<f64, QueryError> {
        match self.eval(e, t)? {
            Value::Scalar(x) => Ok(x),
            other => Err(QueryError::InvalidArgument(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    pub(crate) fn eval_matrix(&self, e: &Expr, t: i64) -> Result<Vec<SeriesRange>, QueryError> {
        match self.eval(e, t)? {
            Value::Matrix(m) => Ok(m),
            other => Err(QueryError::InvalidArgument(format!(
                "expected range vector, got {}",
                other.type_name()
            ))),
        }
    }

    fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<Value, QueryError> {
        let input = self.eval_vector(&a.expr, t)?;
        let op = a.op.id();
        let param = match &a.param {
            Some(p) => Some(self.eval(p, t)?),
            None => None,
        };
        let (kind, modifier) = (key(a), a.modifier.as_ref());
        let group_of =
            |l: &Arc<Labels>| self.derive(kind, l, |l| super::aggregate::group_labels(l, modifier));
        super::aggregate::aggregate(op, param, &group_of, input).map(Value::Vector)
    }

    fn binary(&self, b: &BinaryExpr, t: i64) -> Result<Value, QueryError> {
        let op = b.op.id();
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        super::binary::apply(op, return_bool, b.modifier.as_ref(), lhs, rhs)
    }
}

/// Prometheus refuses a vector whose samples share a label set (e.g. two
/// metrics whose names a function dropped).
fn unique(v: Value) -> Result<Value, QueryError> {
    if let Value::Vector(s) = &v {
        super::check_unique(s)?;
    }
    Ok(v)
}

/// For `timestamp()`: the time (s) of each sample an instant selector
/// returns at `t`; other expressions' samples are stamped `t`.
pub(crate) fn sample_times(
    ev: &Evaluator,
    e: &Expr,
    t: i64,
) -> Result<HashMap<Arc<Labels>, f64>, QueryError> {
    let mut out = HashMap::new();
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::Paren(p) => return sample_times(ev, &p.expr, t),
        _ => return Ok(out),
    };
    let ref_t = ev.at_time(&vs.at, t).saturating_sub(offset_ms(&vs.offset));
    for s in ev.series_of(vs)?.iter() {
        let idx = s.points.partition_point(|p| p.0 <= ref_t);
        if idx > 0 {
            out.insert(s.labels.clone(), s.points[idx - 1].0 as f64 / 1000.0);
        }
    }
    Ok(out)
}

/// The label-set key of a vector-matching side.
pub(crate) fn signature(l: &Labels, matching: Option<&LabelModifier>) -> Vec<(String, String)> {
    match matching {
        Some(LabelModifier::Include(names)) => l.keep(&names.labels).0,
        Some(LabelModifier::Exclude(names)) => l.without(&names.labels).0,
        None => l.drop_name().0,
    }
}

/// Whether vector matching is one-to-one, group_left or group_right.
pub(crate) fn card(m: Option<&promql_parser::parser::BinModifier>) -> VectorMatchCardinality {
    m.map(|m| m.card.clone())
        .unwrap_or(VectorMatchCardinality::OneToOne)
}

/// Operators that compare.
pub(crate) fn is_comparison(op: u16) -> bool {
    [T_EQLC, T_NEQ, T_GTR, T_LSS, T_GTE, T_LTE].contains(&op)
}
