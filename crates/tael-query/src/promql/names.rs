//! OTel metric and attribute names as Prometheus sees them.
//!
//! Each stored metric becomes one or more Prometheus *families*: a gauge or
//! sum one (`name`, or `name_total` for a monotonic cumulative sum), a
//! histogram three (`_bucket` with an `le` label, `_sum`, `_count`), a
//! summary three (the quantiles with a `quantile` label, `_sum`, `_count`).
//! A family answers to two spellings:
//!
//! - the normalised one (the OTLP → Prometheus translation with suffixes):
//!   characters outside `[a-zA-Z0-9_:]` become `_`, the UCUM unit is
//!   appended in words (`s` → `seconds`, `By` → `bytes`, `1` on a gauge →
//!   `ratio`, `By/s` → `bytes_per_second`, `{annotations}` dropped) unless
//!   the name already ends with it, then `_total` / `_bucket` / `_sum` /
//!   `_count`: `http.server.request.duration` (unit `s`) →
//!   `http_server_request_duration_seconds_bucket`;
//! - the raw OTel name with only the family suffix, for the UTF-8 quoted
//!   form: `{"http.server.request.duration_bucket"}`, or `{"queue.depth"}`.
//!
//! Results always carry the normalised name. Attribute keys become label
//! names the same way (`http.route` → `http_route`); a matcher on a dotted
//! name (`{"http.route"="/pay"}`) is normalised before matching.

/// Which samples of a stored metric a family holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// The point value (gauges, sums, remote-write samples).
    Value,
    /// Histogram buckets, cumulative, with `le`.
    Bucket,
    /// Histogram or summary sum.
    Sum,
    /// Histogram or summary count.
    Count,
    /// Summary quantiles, with `quantile`.
    Quantile,
}

/// A stored metric as the catalog knows it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct StoredMetric {
    pub name: String,
    pub unit: String,
    pub metric_type: String,
    pub monotonic: bool,
    pub temporality: String,
}

/// A label name or metric name with invalid characters replaced by `_`.
pub fn sanitize(name: &str, allow_colon: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label name as results carry it.
pub fn label_name(key: &str) -> String {
    sanitize(key, false)
}

fn unit_word(u: &str) -> Option<&'static str> {
    Some(match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_word(u: &str) -> Option<&'static str> {
    Some(match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// The unit suffix words of a UCUM unit (`None`: no suffix).
fn unit_suffix(unit: &str, metric_type: &str) -> Option<String> {
    // Annotations in braces carry no unit.
    let mut u = String::new();
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => u.push(c),
            _ => {}
        }
    }
    let u = u.trim();
    if u.is_empty() {
        return None;
    }
    if u == "1" {
        return (metric_type == "gauge").then(|| "ratio".to_string());
    }
    let (main, per) = match u.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (u, None),
    };
    let main = match main {
        "" | "1" => String::new(),
        m => unit_word(m)
            .map(str::to_string)
            .unwrap_or_else(|| sanitize(m, false)),
    };
    let per = per.map(|p| {
        per_word(p)
            .map(str::to_string)
            .unwrap_or_else(|| sanitize(p, false))
    });
    let words = match (main.is_empty(), per) {
        (true, None) => return None,
        (true, Some(p)) => format!("per_{p}"),
        (false, None) => main,
        (false, Some(p)) => format!("{main}_per_{p}"),
    };
    Some(words)
}

/// The normalised base name (before the family suffix).
pub fn normalized_base(m: &StoredMetric) -> String {
    let mut base = sanitize(&m.name, true);
    if let Some(words) = unit_suffix(&m.unit, &m.metric_type) {
        if !base.ends_with(&words) {
            base = format!("{base}_{words}");
        }
    }
    base
}

/// Every (family, normalised name, raw name) of a stored metric.
pub fn families(m: &StoredMetric) -> Vec<(Family, String, String)> {
    let base = normalized_base(m);
    let raw = &m.name;
    let with = |f: Family, suffix: &str| (f, format!("{base}{suffix}"), format!("{raw}{suffix}"));
    match m.metric_type.as_str() {
        "histogram" => vec![
            with(Family::Bucket, "_bucket"),
            with(Family::Sum, "_sum"),
            with(Family::Count, "_count"),
        ],
        "summary" => vec![
            with(Family::Quantile, ""),
            with(Family::Sum, "_sum"),
            with(Family::Count, "_count"),
        ],
        "sum" if m.monotonic && m.temporality == "cumulative" => {
            let norm = if base.ends_with("_total") {
                base.clone()
            } else {
                format!("{base}_total")
            };
            vec![(Family::Value, norm, raw.clone())]
        }
        _ => vec![(Family::Value, base, raw.clone())],
    }
}

/// A float as Prometheus prints it in `le` and `quantile` labels.
pub fn format_bound(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        // Rust prints floats without an exponent and with the shortest
        // round-tripping digits, as Go's FormatFloat(v, 'f', -1, 64).
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, unit: &str, t: &str, mono: bool) -> StoredMetric {
        StoredMetric {
            name: name.into(),
            unit: unit.into(),
            metric_type: t.into(),
            monotonic: mono,
            temporality: "cumulative".into(),
        }
    }

    #[test]
    fn normalisation() {
        let f = families(&m("http.server.request.duration", "s", "histogram", false));
        assert_eq!(f[0].1, "http_server_request_duration_seconds_bucket");
        assert_eq!(f[0].2, "http.server.request.duration_bucket");
        assert_eq!(f[2].1, "http_server_request_duration_seconds_count");
        let f = families(&m("http.requests", "{request}", "sum", true));
        assert_eq!(f[0].1, "http_requests_total");
        let f = families(&m("requests_total", "", "sum", true));
        assert_eq!(f[0].1, "requests_total");
        let f = families(&m("cpu.utilization", "1", "gauge", false));
        assert_eq!(f[0].1, "cpu_utilization_ratio");
        let f = families(&m("net.io", "By/s", "gauge", false));
        assert_eq!(f[0].1, "net_io_bytes_per_second");
        let f = families(&m("up", "", "gauge", false));
        assert_eq!((f[0].1.as_str(), f[0].2.as_str()), ("up", "up"));
        let f = families(&m("queue_seconds", "s", "gauge", false));
        assert_eq!(f[0].1, "queue_seconds");
        assert_eq!(label_name("http.route"), "http_route");
        assert_eq!(label_name("1x"), "_1x");
    }

    #[test]
    fn bounds() {
        assert_eq!(format_bound(0.005), "0.005");
        assert_eq!(format_bound(1.0), "1");
        assert_eq!(format_bound(2.5), "2.5");
        assert_eq!(format_bound(f64::INFINITY), "+Inf");
        assert_eq!(format_bound(1000.0), "1000");
    }
}
