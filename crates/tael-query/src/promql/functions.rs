//! PromQL functions. Range functions (`rate`, `*_over_time` …) return one
//! sample per input series with the metric name dropped (except
//! `last_over_time`); element-wise functions drop the name too, except
//! `label_replace`, `label_join`, `sort` and `sort_desc`. `rate`,
//! `increase` and `delta` extrapolate as Prometheus does (to the window
//! edges when the first/last sample is within 1.1 average intervals of
//! them, else half an interval; never below zero for counters).

use super::aggregate::{group_in_order, quantile, variance};
use super::eval::Evaluator;
use super::value::{Labels, Sample, Value, METRIC_NAME};
use crate::QueryError;
use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};
use std::sync::Arc;

fn arg(c: &Call, i: usize) -> Result<&Expr, QueryError> {
    c.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
        QueryError::InvalidArgument(format!("{}: missing argument {}", c.func.name, i + 1))
    })
}

/// Prometheus's extrapolated rate / increase / delta of one series in the
/// window `(t - range, t]`.
fn extrapolated(
    points: &[(i64, f64)],
    t: i64,
    range: i64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    if counter {
        let mut prev = first_v;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let range_start = t.saturating_sub(range);
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let to_end = (t - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    if sampled <= 0.0 {
        return None;
    }
    let avg = sampled / (points.len() - 1) as f64;
    if counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    let mut factor = interval / sampled;
    if rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` / `idelta` from the last two samples.
fn instant_delta(points: &[(i64, f64)], rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (pt, pv) = points[points.len() - 2];
    let (lt, lv) = points[points.len() - 1];
    let mut d = lv - pv;
    if rate && lv < pv {
        d = lv; // counter reset
    }
    if rate {
        let dt = (lt - pt) as f64 / 1000.0;
        if dt == 0.0 {
            return None;
        }
        d /= dt;
    }
    Some(d)
}

/// Kahan-compensated running sum: returns the new (sum, compensation).
fn kahan(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Least-squares slope and intercept at `at` (x in seconds from `at`),
/// with compensated sums; constant samples give slope 0 exactly.
fn regression(points: &[(i64, f64)], at: i64) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let first = points[0].1;
    if points.iter().all(|p| p.1 == first) {
        return Some(if first.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, first)
        });
    }
    let n = points.len() as f64;
    let (mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(t, v) in points {
        let x = (t - at) as f64 / 1000.0;
        (sx, cx) = kahan(x, sx, cx);
        (sy, cy) = kahan(v, sy, cy);
        (sxy, cxy) = kahan(x * v, sxy, cxy);
        (sx2, cx2) = kahan(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    Some((slope, intercept))
}

fn over_time(name: &str, points: &[(i64, f64)], phi: f64) -> Option<f64> {
    let vals: Vec<f64> = points.iter().map(|p| p.1).collect();
    if vals.is_empty() {
        return None;
    }
    Some(match name {
        "avg_over_time" => vals.iter().sum::<f64>() / vals.len() as f64,
        "sum_over_time" => vals.iter().sum(),
        "count_over_time" => vals.len() as f64,
        "min_over_time" => {
            vals.iter()
                .copied()
                .fold(f64::NAN, |a, x| if a.is_nan() || x < a { x } else { a })
        }
        "max_over_time" => {
            vals.iter()
                .copied()
                .fold(f64::NAN, |a, x| if a.is_nan() || x > a { x } else { a })
        }
        "last_over_time" => vals[vals.len() - 1],
        "present_over_time" => 1.0,
        "stddev_over_time" => variance(&vals).sqrt(),
        "stdvar_over_time" => variance(&vals),
        "quantile_over_time" => quantile(phi, &mut vals.clone()),
        "changes" => vals
            .windows(2)
            .filter(|w| w[0] != w[1] && !(w[0].is_nan() && w[1].is_nan()))
            .count() as f64,
        "resets" => vals.windows(2).filter(|w| w[1] < w[0]).count() as f64,
        _ => return None,
    })
}

fn map_range(
    ev: &Evaluator,
    c: &Call,
    matrix_arg: usize,
    t: i64,
    f: impl Fn(&[(i64, f64)]) -> Option<f64>,
) -> Result<Value, QueryError> {
    let keep_name = c.func.name == "last_over_time";
    let mut out = Vec::new();
    let mut emit = |labels: &Arc<Labels>, points: &[(i64, f64)]| {
        if let Some(value) = f(points) {
            out.push(Sample {
                labels: if keep_name {
                    labels.clone()
                } else {
                    ev.without_name(labels)
                },
                value,
            })
        }
    };
    match unparen(arg(c, matrix_arg)?) {
        Expr::MatrixSelector(m) => ev.for_each_range(m, t, &mut emit)?,
        e => {
            for s in ev.eval_matrix(e, t)? {
                emit(&s.labels, &s.points)
            }
        }
    }
    Ok(Value::Vector(out))
}

/// `e` without enclosing parentheses.
fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn map_vector(
    ev: &Evaluator,
    c: &Call,
    t: i64,
    f: impl Fn(f64) -> f64,
) -> Result<Value, QueryError> {
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    Ok(Value::Vector(
        v.into_iter()
            .map(|s| Sample {
                labels: ev.without_name(&s.labels),
                value: f(s.value),
            })
            .collect(),
    ))
}

/// Go's `math.Max`: NaN wins (Rust's `f64::max` ignores NaN).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Date parts of a timestamp (seconds), UTC.
fn date_part(name: &str, secs: f64) -> f64 {
    // Beyond ±10^14 s (3 million years) the civil arithmetic would overflow.
    if !secs.is_finite() || secs.abs() > 1e14 {
        return f64::NAN;
    }
    let days = (secs / 86_400.0).floor() as i64;
    let sod = secs - days as f64 * 86_400.0;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_mar = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_mar + 2) / 153;
    let d = doy_mar - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let doy = cum[(m - 1) as usize] + d + i64::from(leap && m > 2);
    let dim = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(m - 1) as usize]
        + i64::from(leap && m == 2);
    match name {
        "minute" => ((sod / 60.0).floor() as i64 % 60) as f64,
        "hour" => (sod / 3600.0).floor(),
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_month" => d as f64,
        "day_of_year" => doy as f64,
        "days_in_month" => dim as f64,
        "month" => m as f64,
        "year" => y as f64,
        _ => f64::NAN,
    }
}

/// `histogram_quantile` over classic buckets (Prometheus's bucketQuantile).
fn bucket_quantile(phi: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Merge equal bounds, then force monotonic counts.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    let mut max = f64::NEG_INFINITY;
    for b in merged.iter_mut() {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    let b = merged;
    if b.len() < 2 {
        return f64::NAN;
    }
    let total = b[b.len() - 1].1;
    if total == 0.0 {
        return f64::NAN;
    }
    let mut rank = phi * total;
    let i = b.partition_point(|x| x.1 < rank);
    if i == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[i].0, b[i].1);
    if i > 0 {
        start = b[i - 1].0;
        count -= b[i - 1].1;
        rank -= b[i - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn histogram_quantile(ev: &Evaluator, c: &Call, t: i64) -> Result<Value, QueryError> {
    let phi = ev.eval_scalar(arg(c, 0)?, t)?;
    let v = ev.eval_vector(arg(c, 1)?, t)?;
    let buckets = v.into_iter().filter_map(|s| {
        let le = s.labels.get("le");
        // No or a bad `le`: ignored, as Prometheus does.
        let ub = le
            .parse::<f64>()
            .ok()
            .or(matches!(le, "+Inf" | "Inf" | "+inf" | "inf").then_some(f64::INFINITY))?;
        let mut l = s.labels.drop_name();
        l.set("le", "");
        Some((Arc::new(l), (ub, s.value)))
    });
    Ok(Value::Vector(
        group_in_order(buckets)
            .into_iter()
            .map(|(labels, mut b)| Sample {
                value: bucket_quantile(phi, &mut b),
                labels,
            })
            .collect(),
    ))
}

fn string_arg(ev: &Evaluator, c: &Call, i: usize, t: i64) -> Result<String, QueryError> {
    match ev.eval(arg(c, i)?, t)? {
        Value::String(s) => Ok(s),
        other => Err(QueryError::InvalidArgument(format!(
            "{}: argument {} must be a string, got {}",
            c.func.name,
            i + 1,
            other.type_name()
        ))),
    }
}

pub(crate) fn valid_label(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn label_replace(ev: &Evaluator, c: &Call, t: i64) -> Result<Value, QueryError> {
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    let dst = string_arg(ev, c, 1, t)?;
    let repl = string_arg(ev, c, 2, t)?;
    let src = string_arg(ev, c, 3, t)?;
    let re_src = string_arg(ev, c, 4, t)?;
    if !valid_label(&dst) {
        return Err(QueryError::InvalidArgument(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|e| {
        QueryError::InvalidArgument(format!(
            "invalid regular expression in label_replace(): {e}"
        ))
    })?;
    // Go's $1 / ${1} expansion is the same syntax as the regex crate's.
    Ok(Value::Vector(
        v.into_iter()
            .map(|s| {
                let val = s.labels.get(&src).to_string();
                match re.captures(&val) {
                    Some(caps) => {
                        let mut out = String::new();
                        caps.expand(&repl, &mut out);
                        let mut l = (*s.labels).clone();
                        l.set(&dst, &out);
                        Sample {
                            labels: Arc::new(l),
                            value: s.value,
                        }
                    }
                    None => s,
                }
            })
            .collect(),
    ))
}

fn label_join(ev: &Evaluator, c: &Call, t: i64) -> Result<Value, QueryError> {
    let v = ev.eval_vector(arg(c, 0)?, t)?;
    let dst = string_arg(ev, c, 1, t)?;
    let sep = string_arg(ev, c, 2, t)?;
    let mut srcs = Vec::new();
    for i in 3..c.args.args.len() {
        srcs.push(string_arg(ev, c, i, t)?);
    }
    if !valid_label(&dst) {
        return Err(QueryError::InvalidArgument(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    Ok(Value::Vector(
        v.into_iter()
            .map(|s| {
                let joined = srcs
                    .iter()
                    .map(|n| s.labels.get(n))
                    .collect::<Vec<_>>()
                    .join(&sep);
                let mut l = (*s.labels).clone();
                l.set(&dst, &joined);
                Sample {
                    labels: Arc::new(l),
                    value: s.value,
                }
            })
            .collect(),
    ))
}

/// `absent(v)`: 1 with the selector's equality labels when `v` is empty.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(m) => Some(&m.vs),
        _ => None,
    };
    let mut pairs = Vec::new();
    if let Some(vs) = vs {
        let mut counts = std::collections::HashMap::new();
        for m in &vs.matchers.matchers {
            *counts.entry(m.name.clone()).or_insert(0) += 1;
        }
        for m in &vs.matchers.matchers {
            if matches!(m.op, MatchOp::Equal) && m.name != METRIC_NAME && counts[&m.name] == 1 {
                pairs.push((super::names::label_name(&m.name), m.value.clone()));
            }
        }
    }
    Labels::new(pairs)
}

pub fn call(ev: &Evaluator, c: &Call, t: i64) -> Result<Value, QueryError> {
    let name = c.func.name;
    let secs = t as f64 / 1000.0;
    match name {
        "rate" | "increase" | "delta" => {
            let (end, range) = ev.range_window(arg(c, 0)?, t);
            let (counter, rate) = (name != "delta", name == "rate");
            map_range(ev, c, 0, t, |p| extrapolated(p, end, range, counter, rate))
        }
        "irate" => map_range(ev, c, 0, t, |p| instant_delta(p, true)),
        "idelta" => map_range(ev, c, 0, t, |p| instant_delta(p, false)),
        "deriv" => map_range(ev, c, 0, t, |p| regression(p, p[0].0).map(|r| r.0)),
        "predict_linear" => {
            let ahead = ev.eval_scalar(arg(c, 1)?, t)?;
            map_range(ev, c, 0, t, |p| {
                regression(p, t).map(|(slope, icpt)| icpt + slope * ahead)
            })
        }
        "quantile_over_time" => {
            let phi = ev.eval_scalar(arg(c, 0)?, t)?;
            map_range(ev, c, 1, t, |p| over_time(name, p, phi))
        }
        "avg_over_time" | "sum_over_time" | "count_over_time" | "min_over_time"
        | "max_over_time" | "last_over_time" | "present_over_time" | "stddev_over_time"
        | "stdvar_over_time" | "changes" | "resets" => {
            map_range(ev, c, 0, t, |p| over_time(name, p, 0.0))
        }
        "abs" => map_vector(ev, c, t, f64::abs),
        "ceil" => map_vector(ev, c, t, f64::ceil),
        "floor" => map_vector(ev, c, t, f64::floor),
        "exp" => map_vector(ev, c, t, f64::exp),
        "sqrt" => map_vector(ev, c, t, f64::sqrt),
        "ln" => map_vector(ev, c, t, f64::ln),
        "log2" => map_vector(ev, c, t, f64::log2),
        "log10" => map_vector(ev, c, t, f64::log10),
        "sgn" => map_vector(ev, c, t, |x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }),
        "sin" => map_vector(ev, c, t, f64::sin),
        "cos" => map_vector(ev, c, t, f64::cos),
        "tan" => map_vector(ev, c, t, f64::tan),
        "asin" => map_vector(ev, c, t, f64::asin),
        "acos" => map_vector(ev, c, t, f64::acos),
        "atan" => map_vector(ev, c, t, f64::atan),
        "sinh" => map_vector(ev, c, t, f64::sinh),
        "cosh" => map_vector(ev, c, t, f64::cosh),
        "tanh" => map_vector(ev, c, t, f64::tanh),
        "asinh" => map_vector(ev, c, t, f64::asinh),
        "acosh" => map_vector(ev, c, t, f64::acosh),
        "atanh" => map_vector(ev, c, t, f64::atanh),
        "deg" => map_vector(ev, c, t, f64::to_degrees),
        "rad" => map_vector(ev, c, t, f64::to_radians),
        "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
        "round" => {
            let to = match c.args.args.len() {
                1 => 1.0,
                _ => ev.eval_scalar(arg(c, 1)?, t)?,
            };
            // Prometheus rounds half up: floor(v * 1/to + 0.5) / (1/to).
            let inv = 1.0 / to;
            map_vector(ev, c, t, |x| (x * inv + 0.5).floor() / inv)
        }
        "clamp" => {
            let (lo, hi) = (
                ev.eval_scalar(arg(c, 1)?, t)?,
                ev.eval_scalar(arg(c, 2)?, t)?,
            );
            if lo > hi {
                return Ok(Value::Vector(Vec::new()));
            }
            map_vector(ev, c, t, |x| go_max(lo, go_min(hi, x)))
        }
        "clamp_min" => {
            let lo = ev.eval_scalar(arg(c, 1)?, t)?;
            map_vector(ev, c, t, |x| go_max(x, lo))
        }
        "clamp_max" => {
            let hi = ev.eval_scalar(arg(c, 1)?, t)?;
            map_vector(ev, c, t, |x| go_min(x, hi))
        }
        "timestamp" => {
            // The sample's own time: re-evaluate the selector's points.
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            let times = super::eval::sample_times(ev, arg(c, 0)?, t)?;
            Ok(Value::Vector(
                v.into_iter()
                    .map(|s| Sample {
                        value: times.get(&s.labels).copied().unwrap_or(secs),
                        labels: ev.without_name(&s.labels),
                    })
                    .collect(),
            ))
        }
        "minute" | "hour" | "day_of_week" | "day_of_month" | "day_of_year" | "days_in_month"
        | "month" | "year" => match c.args.args.len() {
            0 => Ok(Value::Vector(vec![Sample {
                labels: Arc::new(Labels::default()),
                value: date_part(name, secs),
            }])),
            _ => map_vector(ev, c, t, |x| date_part(name, x)),
        },
        "time" => Ok(Value::Scalar(secs)),
        "vector" => Ok(Value::Vector(vec![Sample {
            labels: Arc::new(Labels::default()),
            value: ev.eval_scalar(arg(c, 0)?, t)?,
        }])),
        "scalar" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }))
        }
        "absent" => {
            let v = ev.eval_vector(arg(c, 0)?, t)?;
            Ok(Value::Vector(match v.is_empty() {
                true => vec![Sample {
                    labels: Arc::new(absent_labels(arg(c, 0)?)),
                    value: 1.0,
                }],
                false => Vec::new(),
            }))
        }
        "absent_over_time" => {
            let m = ev.eval_matrix(arg(c, 0)?, t)?;
            Ok(Value::Vector(match m.is_empty() {
                true => vec![Sample {
                    labels: Arc::new(absent_labels(arg(c, 0)?)),
                    value: 1.0,
                }],
                false => Vec::new(),
            }))
        }
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(arg(c, 0)?, t)?;
            // NaN last in both directions, as Prometheus.
            v.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if name == "sort" => a.value.total_cmp(&b.value),
                _ => b.value.total_cmp(&a.value),
            });
            Ok(Value::Vector(v))
        }
        "label_replace" => label_replace(ev, c, t),
        "label_join" => label_join(ev, c, t),
        "histogram_quantile" => histogram_quantile(ev, c, t),
        other => Err(QueryError::InvalidArgument(format!(
            "function {other:?} is not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // A counter scraped every 15 s, +15 per scrape, window 60 s ending
        // 5 s after the last sample.
        let pts: Vec<(i64, f64)> = (0..4)
            .map(|i| (10_000 + i * 15_000, 100.0 + 15.0 * i as f64))
            .collect();
        let t = 60_000;
        let r = extrapolated(&pts, t, 60_000, true, true).unwrap();
        // sampled 45 s, +7.5 s each side (avg/2 = 7.5 < 10 s to start; 5 s to end).
        let expected = 45.0 * ((45.0 + 10.0 + 5.0) / 45.0) / 60.0;
        assert!((r - expected).abs() < 1e-9, "{r} vs {expected}");
        // A reset adds the value before it.
        let pts = vec![(0, 10.0), (15_000, 20.0), (30_000, 5.0)];
        let inc = extrapolated(&pts, 30_000, 30_000, true, false).unwrap();
        assert!((inc - 15.0).abs() < 1e-9, "{inc}");
    }

    #[test]
    fn bucket_quantile_interpolates() {
        let mut b = vec![(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (f64::INFINITY, 40.0)];
        let q = bucket_quantile(0.5, &mut b);
        // rank 20 falls in (0.1, 0.5]: 0.1 + 0.4 * (10 / 20).
        assert!((q - 0.3).abs() < 1e-12);
        let mut b = vec![(1.0, 5.0)];
        assert!(bucket_quantile(0.5, &mut b).is_nan());
        let mut b = vec![(0.1, 0.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.9, &mut b), 0.1);
    }

    #[test]
    fn dates() {
        // 2024-02-29T13:45:00Z
        let s = 1_709_214_300.0;
        assert_eq!(date_part("year", s), 2024.0);
        assert_eq!(date_part("month", s), 2.0);
        assert_eq!(date_part("day_of_month", s), 29.0);
        assert_eq!(date_part("days_in_month", s), 29.0);
        assert_eq!(date_part("hour", s), 13.0);
        assert_eq!(date_part("minute", s), 45.0);
        assert_eq!(date_part("day_of_week", s), 4.0);
        assert_eq!(date_part("day_of_year", s), 60.0);
    }
}
