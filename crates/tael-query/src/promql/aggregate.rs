//! Aggregation operators: sum, avg, min, max, count, group, stddev,
//! stdvar, topk, bottomk, quantile and count_values, grouped `by` or
//! `without` labels (no modifier: one group; results drop `__name__`
//! except topk/bottomk, which return whole input samples).

use super::eval::exec_err;
use super::value::{format_value, Labels, Sample, Value};
use crate::fasthash::FastMap;
use crate::QueryError;
use promql_parser::parser::token::*;
use promql_parser::parser::LabelModifier;
use std::sync::Arc;

/// How an aggregation finds a sample's group labels (memoised by the
/// evaluator, see [`group_labels`]).
pub(crate) type GroupOf<'a> = dyn Fn(&Arc<Labels>) -> Arc<Labels> + 'a;

/// Items grouped by label set, groups in order of first appearance.
pub(crate) fn group_in_order<T>(
    items: impl Iterator<Item = (Arc<Labels>, T)>,
) -> Vec<(Arc<Labels>, Vec<T>)> {
    let mut index: FastMap<Arc<Labels>, usize> = FastMap::default();
    let mut groups: Vec<(Arc<Labels>, Vec<T>)> = Vec::new();
    for (l, item) in items {
        match index.get(&l) {
            Some(&i) => groups[i].1.push(item),
            None => {
                index.insert(l.clone(), groups.len());
                groups.push((l, vec![item]));
            }
        }
    }
    groups
}

/// The output labels of a sample's group.
pub(crate) fn group_labels(l: &Labels, m: Option<&LabelModifier>) -> Labels {
    match m {
        Some(LabelModifier::Include(names)) => l.keep(&names.labels),
        Some(LabelModifier::Exclude(names)) => l.without(&names.labels),
        None => Labels::default(),
    }
}

/// The φ-quantile of `v` with linear interpolation (Prometheus's
/// `quantile` aggregation and `quantile_over_time`).
pub fn quantile(phi: f64, v: &mut [f64]) -> f64 {
    if v.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len() as f64;
    let rank = phi * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = ((lower + 1) as f64).min(n - 1.0) as usize;
    let w = rank - rank.floor();
    v[lower] * (1.0 - w) + v[upper] * w
}

/// Population variance (Welford), as stddev/stdvar use it.
pub fn variance(v: &[f64]) -> f64 {
    let (mut mean, mut m2) = (0.0, 0.0);
    for (i, x) in v.iter().enumerate() {
        let n = (i + 1) as f64;
        let d = x - mean;
        mean += d / n;
        m2 += d * (x - mean);
    }
    m2 / v.len() as f64
}

fn param_scalar(param: &Option<Value>, name: &str) -> Result<f64, QueryError> {
    match param {
        Some(Value::Scalar(x)) => Ok(*x),
        _ => Err(QueryError::InvalidArgument(format!(
            "{name} needs a scalar parameter"
        ))),
    }
}

pub fn aggregate(
    op: u16,
    param: Option<Value>,
    group_of: &GroupOf<'_>,
    input: Vec<Sample>,
) -> Result<Vec<Sample>, QueryError> {
    if op == T_TOPK || op == T_BOTTOMK {
        return top_k(op, param_scalar(&param, "topk/bottomk")?, group_of, input);
    }
    if op == T_COUNT_VALUES {
        let label = match &param {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(QueryError::InvalidArgument(
                    "count_values needs a string parameter".into(),
                ))
            }
        };
        if !super::functions::valid_label(&label) {
            return Err(QueryError::InvalidArgument(format!(
                "invalid label name {label:?}"
            )));
        }
        let keyed = input.iter().map(|s| {
            let mut l = Labels::clone(&group_of(&s.labels));
            l.set(&label, &format_value(s.value));
            (Arc::new(l), ())
        });
        return Ok(group_in_order(keyed)
            .into_iter()
            .map(|(labels, n)| Sample {
                labels,
                value: n.len() as f64,
            })
            .collect());
    }
    let phi = match op {
        T_QUANTILE => Some(param_scalar(&param, "quantile")?),
        _ => None,
    };
    let groups = group_in_order(input.into_iter().map(|s| (group_of(&s.labels), s.value)));
    let mut out = Vec::with_capacity(groups.len());
    for (labels, mut v) in groups {
        let value = match op {
            T_SUM => v.iter().sum(),
            T_AVG => v.iter().sum::<f64>() / v.len() as f64,
            T_COUNT => v.len() as f64,
            T_GROUP => 1.0,
            T_MIN => v
                .iter()
                .copied()
                .fold(f64::NAN, |a, x| if a.is_nan() || x < a { x } else { a }),
            T_MAX => v
                .iter()
                .copied()
                .fold(f64::NAN, |a, x| if a.is_nan() || x > a { x } else { a }),
            T_STDVAR => variance(&v),
            T_STDDEV => variance(&v).sqrt(),
            T_QUANTILE => quantile(phi.unwrap_or(f64::NAN), &mut v),
            _ => return Err(exec_err("unsupported aggregation")),
        };
        out.push(Sample { labels, value });
    }
    Ok(out)
}

fn top_k(
    op: u16,
    k: f64,
    group_of: &GroupOf<'_>,
    input: Vec<Sample>,
) -> Result<Vec<Sample>, QueryError> {
    if k.is_nan() {
        return Err(QueryError::InvalidArgument("Parameter value is NaN".into()));
    }
    if k < 1.0 {
        return Ok(Vec::new());
    }
    let k = k.min(1e9) as usize;
    let mut out = Vec::new();
    for (_, mut v) in group_in_order(input.into_iter().map(|s| (group_of(&s.labels), s))) {
        // NaN sorts last either way, as in Prometheus.
        v.sort_by(|a, b| {
            let (x, y) = (a.value, b.value);
            match (x.is_nan(), y.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if op == T_TOPK => y.total_cmp(&x),
                _ => x.total_cmp(&y),
            }
        });
        v.truncate(k);
        out.extend(v);
    }
    Ok(out)
}
