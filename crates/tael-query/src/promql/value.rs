//! PromQL values: label sets, samples, instant vectors, range vectors and
//! the results queries return.

use std::sync::Arc;

pub const METRIC_NAME: &str = "__name__";

/// A label set, sorted by name, without empty values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(pub Vec<(String, String)>);

impl Labels {
    /// Builds a label set (sorts, drops empty values; the last of duplicate
    /// names wins).
    pub fn new(mut pairs: Vec<(String, String)>) -> Labels {
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.reverse();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|a, b| a.0 == b.0);
        Labels(pairs)
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map(|i| self.0[i].1.as_str())
            .unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.get(METRIC_NAME)
    }

    /// The set without `__name__`.
    pub fn drop_name(&self) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(n, _)| n != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }

    /// Only the listed labels.
    pub fn keep(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(n, _)| names.iter().any(|x| x == n))
                .cloned()
                .collect(),
        )
    }

    /// Without the listed labels (and without `__name__`).
    pub fn without(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(n, _)| n != METRIC_NAME && !names.iter().any(|x| x == n))
                .cloned()
                .collect(),
        )
    }

    /// Sets (or, with an empty value, removes) one label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, (name.to_string(), value.to_string())),
        }
    }
}

/// One value of an instant vector.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: Arc<Labels>,
    pub value: f64,
}

/// Samples of one series over a range, oldest first (ms, value).
#[derive(Debug, Clone)]
pub struct SeriesRange {
    pub labels: Arc<Labels>,
    pub points: Vec<(i64, f64)>,
}

/// What an expression evaluates to at one time.
#[derive(Debug, Clone)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<SeriesRange>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// The result of a query, as the Prometheus API returns it.
#[derive(Debug, Clone)]
pub enum QueryResult {
    /// Instant query: `resultType` vector / scalar / string.
    Vector {
        time_ms: i64,
        samples: Vec<Sample>,
    },
    Scalar {
        time_ms: i64,
        value: f64,
    },
    String {
        time_ms: i64,
        value: String,
    },
    /// Range query (or an instant query of a range selector): matrix.
    Matrix(Vec<SeriesRange>),
}

/// A float as the Prometheus API prints sample values: Go's
/// `FormatFloat(v, 'f', -1, 64)` (shortest round-trip digits, never an
/// exponent), which is what Rust's `Display` prints too.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let mut l = Labels::new(vec![
            ("b".into(), "2".into()),
            ("a".into(), "1".into()),
            ("c".into(), "".into()),
            ("b".into(), "3".into()),
        ]);
        assert_eq!(
            l.0,
            vec![("a".into(), "1".into()), ("b".into(), "3".into())]
        );
        assert_eq!(l.get("b"), "3");
        assert_eq!(l.get("zz"), "");
        l.set("a", "");
        l.set("z", "9");
        assert_eq!(
            l.0,
            vec![("b".into(), "3".into()), ("z".into(), "9".into())]
        );
    }

    #[test]
    fn values_print_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(0.00001), "0.00001");
        assert_eq!(format_value(0.0001), "0.0001");
        assert_eq!(format_value(123456789.0), "123456789");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }
}
