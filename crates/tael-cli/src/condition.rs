//! The `--exit-on` conditions of `tael watch` and `tael tail`:
//! `<field> <op> <value>` tests joined by `and` / `or` (`and` binds
//! tighter). Operators: `>`, `>=`, `<`, `<=` (numbers), `==`, `!=`
//! (numbers, or text: a bare word or a quoted string). What a field names
//! is the caller's: a tick key for `watch`, a record key for `tail`.

use crate::client::CliError;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone)]
struct Test {
    field: String,
    op: Op,
    value: Operand,
}

/// Alternatives of conjunctions.
#[derive(Debug, Clone)]
pub struct Condition {
    pub text: String,
    any: Vec<Vec<Test>>,
}

fn operand(raw: &str, op: Op) -> Result<Operand, String> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<f64>() {
        return Ok(Operand::Number(n));
    }
    if !matches!(op, Op::Eq | Op::Ne) {
        return Err(format!("expected a number, not {raw:?}"));
    }
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| raw.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)));
    match unquoted {
        Some(t) => Ok(Operand::Text(t.to_string())),
        None if !raw.is_empty() && !raw.contains(char::is_whitespace) => {
            Ok(Operand::Text(raw.to_string()))
        }
        None => Err(format!("expected a number or a word, not {raw:?}")),
    }
}

fn parse_test(t: &str) -> Result<Test, String> {
    let ops = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    for (sym, op) in ops {
        if let Some((field, value)) = t.split_once(sym) {
            let field = field.trim();
            if field.is_empty()
                || !field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            {
                return Err(format!("{t:?}: expected a field name before {sym}"));
            }
            let value = operand(value, op).map_err(|e| format!("{t:?}: {e} after {sym}"))?;
            return Ok(Test {
                field: field.to_string(),
                op,
                value,
            });
        }
    }
    Err(format!(
        "{t:?}: expected <field> <op> <value>, op one of > >= < <= == !="
    ))
}

/// Parses one `--exit-on` expression.
pub fn parse_condition(text: &str) -> Result<Condition, String> {
    let mut any = Vec::new();
    for alt in text.split(" or ") {
        let all = alt
            .split(" and ")
            .map(|t| parse_test(t.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        any.push(all);
    }
    Ok(Condition {
        text: text.to_string(),
        any,
    })
}

/// The `--exit-on` flags given, parsed (a bad one is a usage error).
pub fn parse_exit_on(flags: &[String]) -> Result<Vec<Condition>, CliError> {
    flags
        .iter()
        .map(|c| parse_condition(c).map_err(|e| CliError::usage(format!("--exit-on {e}"))))
        .collect()
}

fn as_number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Test {
    fn holds(&self, v: Option<&Value>) -> bool {
        let Some(v) = v else {
            return false;
        };
        match &self.value {
            Operand::Number(want) => as_number(v).is_some_and(|got| match self.op {
                Op::Gt => got > *want,
                Op::Ge => got >= *want,
                Op::Lt => got < *want,
                Op::Le => got <= *want,
                Op::Eq => got == *want,
                Op::Ne => got != *want,
            }),
            Operand::Text(want) => match self.op {
                Op::Eq => as_text(v) == *want,
                _ => as_text(v) != *want,
            },
        }
    }
}

impl Condition {
    /// Whether the condition holds, each field's value from `field`
    /// (`Ok(None)`: absent, so its test fails; `Err`: no such field).
    pub fn holds(
        &self,
        field: &dyn Fn(&str) -> Result<Option<Value>, String>,
    ) -> Result<bool, String> {
        for all in &self.any {
            let mut ok = true;
            for t in all {
                ok &= t.holds(field(&t.field)?.as_ref());
            }
            if ok {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_words() {
        let rec = json!({"service": "checkout", "status": "error", "duration_ms": 812.5});
        let get = |f: &str| Ok(rec.get(f).cloned());
        let holds = |c: &str| parse_condition(c).unwrap().holds(&get).unwrap();
        assert!(holds("status == error and service == 'checkout'"));
        assert!(holds("duration_ms > 500"));
        assert!(!holds("duration_ms > 900 or status != error"));
        assert!(!holds("missing == x"));
        assert!(parse_condition("status > error").is_err());
        assert!(parse_condition("status == two words").is_err());
        assert!(parse_condition("== 3").is_err());
    }
}
