//! Binary operators: scalar/scalar, vector/scalar and vector/vector with
//! label matching (one-to-one, `group_left`, `group_right`) and the set
//! operators, as Prometheus defines them.

use super::eval::{card, exec_err, is_comparison, signature};
use super::value::{Labels, Sample, Value};
use crate::QueryError;
use promql_parser::parser::token::*;
use promql_parser::parser::{BinModifier, LabelModifier, VectorMatchCardinality};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// `lhs op rhs` on floats: the value and whether a comparison holds.
fn elem(op: u16, l: f64, r: f64) -> Result<(f64, bool), QueryError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_MOD => (l % r, true),
        T_POW => (l.powf(r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => return Err(exec_err("operator not allowed here")),
    })
}

fn drops_name(op: u16, return_bool: bool) -> bool {
    return_bool || !is_comparison(op)
}

/// Applies a binary operator to two evaluated operands.
pub fn apply(
    op: u16,
    return_bool: bool,
    modifier: Option<&BinModifier>,
    lhs: Value,
    rhs: Value,
) -> Result<Value, QueryError> {
    if modifier.is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some()) {
        return Err(QueryError::InvalidArgument(
            "fill modifiers are not supported".into(),
        ));
    }
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = elem(op, l, r)?;
            Ok(Value::Scalar(match is_comparison(op) {
                true => keep as u8 as f64,
                false => v,
            }))
        }
        (Value::Vector(v), Value::Scalar(s)) => scalar_op(op, return_bool, v, s, false),
        (Value::Scalar(s), Value::Vector(v)) => scalar_op(op, return_bool, v, s, true),
        (Value::Vector(l), Value::Vector(r)) => match op {
            T_LAND | T_LOR | T_LUNLESS => Ok(Value::Vector(set_op(op, modifier, l, r))),
            _ => vector_op(op, return_bool, modifier, l, r).map(Value::Vector),
        },
        (l, r) => Err(QueryError::InvalidArgument(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn scalar_op(
    op: u16,
    return_bool: bool,
    v: Vec<Sample>,
    s: f64,
    swap: bool,
) -> Result<Value, QueryError> {
    let mut out = Vec::with_capacity(v.len());
    for x in v {
        let (l, r) = if swap { (s, x.value) } else { (x.value, s) };
        let (mut value, keep) = elem(op, l, r)?;
        if is_comparison(op) && swap {
            value = r;
        }
        if return_bool {
            value = keep as u8 as f64;
        } else if !keep {
            continue;
        }
        let labels = match drops_name(op, return_bool) {
            true => Arc::new(x.labels.drop_name()),
            false => x.labels,
        };
        out.push(Sample { labels, value });
    }
    Ok(Value::Vector(out))
}

fn set_op(op: u16, m: Option<&BinModifier>, l: Vec<Sample>, r: Vec<Sample>) -> Vec<Sample> {
    let matching = m.and_then(|m| m.matching.as_ref());
    let sig = |s: &Sample| signature(&s.labels, matching);
    match op {
        T_LAND => {
            let right: HashSet<_> = r.iter().map(sig).collect();
            l.into_iter().filter(|s| right.contains(&sig(s))).collect()
        }
        T_LUNLESS => {
            let right: HashSet<_> = r.iter().map(sig).collect();
            l.into_iter().filter(|s| !right.contains(&sig(s))).collect()
        }
        _ => {
            let left: HashSet<_> = l.iter().map(sig).collect();
            let mut out = l;
            out.extend(r.into_iter().filter(|s| !left.contains(&sig(s))));
            out
        }
    }
}

fn result_labels(
    many: &Labels,
    one: &Labels,
    op: u16,
    return_bool: bool,
    card: &VectorMatchCardinality,
    matching: Option<&LabelModifier>,
) -> Labels {
    let mut l = match drops_name(op, return_bool) {
        true => many.drop_name(),
        false => many.clone(),
    };
    if matches!(card, VectorMatchCardinality::OneToOne) {
        match matching {
            Some(LabelModifier::Include(names)) => l = l.keep(&names.labels),
            Some(LabelModifier::Exclude(names)) => {
                for n in &names.labels {
                    l.set(n, "");
                }
            }
            None => {}
        }
    }
    if let Some(include) = card.labels() {
        for n in &include.labels {
            l.set(n, one.get(n));
        }
    }
    l
}

fn vector_op(
    op: u16,
    return_bool: bool,
    m: Option<&BinModifier>,
    l: Vec<Sample>,
    r: Vec<Sample>,
) -> Result<Vec<Sample>, QueryError> {
    let card = card(m);
    let matching = m.and_then(|m| m.matching.as_ref());
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    // `many` is the side whose labels the result keeps.
    let (many, one) = if one_to_many { (r, l) } else { (l, r) };
    let mut right: HashMap<Vec<(String, String)>, Sample> = HashMap::new();
    for s in one {
        let sig = signature(&s.labels, matching);
        if right.insert(sig, s).is_some() {
            return Err(exec_err(
                "found duplicate series for the match group on the right hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
            ));
        }
    }
    let mut out = Vec::new();
    let mut seen_one: HashSet<Vec<(String, String)>> = HashSet::new();
    let mut seen_result: HashSet<Labels> = HashSet::new();
    for s in many {
        let sig = signature(&s.labels, matching);
        let Some(o) = right.get(&sig) else { continue };
        let (fl, fr) = if one_to_many {
            (o.value, s.value)
        } else {
            (s.value, o.value)
        };
        let (mut value, keep) = elem(op, fl, fr)?;
        if return_bool {
            value = keep as u8 as f64;
        } else if !keep {
            continue;
        }
        if matches!(card, VectorMatchCardinality::OneToOne) && !seen_one.insert(sig.clone()) {
            return Err(exec_err(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            ));
        }
        let labels = result_labels(&s.labels, &o.labels, op, return_bool, &card, matching);
        if !matches!(card, VectorMatchCardinality::OneToOne) && !seen_result.insert(labels.clone())
        {
            return Err(exec_err(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        out.push(Sample {
            labels: Arc::new(labels),
            value,
        });
    }
    Ok(out)
}
