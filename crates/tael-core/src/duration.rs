//! Duration strings used by every query surface: `500ms`, `90s`, `15m`,
//! `1h`, `2d`, `1w`, compound forms such as `1h30m`, and bare seconds.
//! Anything else is an error, never a silent "no filter".

use crate::CoreError;

/// Parses a duration into nanoseconds.
pub fn parse_duration_ns(input: &str) -> Result<i64, CoreError> {
    let s = input.trim();
    let bad = || {
        CoreError::InvalidArgument(format!(
            "invalid duration {input:?}: expected e.g. 500ms, 90s, 15m, 1h, 2d, 1w, 1h30m or a bare number of seconds"
        ))
    };
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        return Ok((secs * 1e9) as i64);
    }
    let bytes = s.as_bytes();
    let mut total: i128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(bad());
        }
        let number: f64 = s[start..i].parse().map_err(|_| bad())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ns: f64 = match &s[unit_start..i] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            "w" => 604_800e9,
            _ => return Err(bad()),
        };
        total += (number * unit_ns) as i128;
        if total > i64::MAX as i128 {
            return Err(bad());
        }
    }
    Ok(total as i64)
}

/// Parses a duration into (possibly fractional) milliseconds. A bare number
/// means milliseconds here (the `--min-duration` convention of tael 0.5).
pub fn parse_duration_ms_bare_ms(input: &str) -> Result<f64, CoreError> {
    let s = input.trim();
    if let Ok(ms) = s.parse::<f64>() {
        if ms.is_finite() && ms >= 0.0 {
            return Ok(ms);
        }
    }
    parse_duration_ns(s).map(|ns| ns as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_forms() {
        assert_eq!(parse_duration_ns("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration_ns("90s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration_ns("15m").unwrap(), 900_000_000_000);
        assert_eq!(parse_duration_ns("1h").unwrap(), 3_600_000_000_000);
        assert_eq!(parse_duration_ns("2d").unwrap(), 172_800_000_000_000);
        assert_eq!(parse_duration_ns("1w").unwrap(), 604_800_000_000_000);
        assert_eq!(parse_duration_ns("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration_ns("42").unwrap(), 42_000_000_000);
        assert_eq!(parse_duration_ns(" 1.5h ").unwrap(), 5_400_000_000_000);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1x", "h", "-5", "1h-", "10 m", "1e999"] {
            assert!(parse_duration_ns(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn bare_ms_convention() {
        assert_eq!(parse_duration_ms_bare_ms("250").unwrap(), 250.0);
        assert_eq!(parse_duration_ms_bare_ms("2s").unwrap(), 2000.0);
        assert_eq!(parse_duration_ms_bare_ms("1m").unwrap(), 60000.0);
    }
}
