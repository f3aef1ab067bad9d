//! What an empty answer or a failed lookup tells the agent to try next:
//! the window searched, the services that exist, the nearest names.

use crate::backend::Backend;
use crate::params::UsedWindow;
use serde_json::{json, Value};
use tael_query::api::ServicesRequest;

/// Names of the stored services (empty when the lookup fails).
pub async fn services<B: Backend>(b: &B) -> Vec<String> {
    b.call(ServicesRequest)
        .await
        .map(|r| r.services.into_iter().map(|s| s.name).collect())
        .unwrap_or_default()
}

/// Edit distance of two short names (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The names nearest to `wanted`, best first.
pub fn nearest<'a>(wanted: &str, names: &'a [String], n: usize) -> Vec<&'a str> {
    let w = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .map(|s| {
            let l = s.to_ascii_lowercase();
            let d = if l.contains(&w) || w.contains(&l) {
                0
            } else {
                distance(&w, &l)
            };
            (d, s.as_str())
        })
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, s)| s).collect()
}

/// The answer when a search found nothing.
pub fn empty(key: &str, window: UsedWindow, services: &[String], service: Option<&str>) -> Value {
    let mut hints = vec![format!(
        "nothing matched in the window searched; widen it (last=6h, last=1d) or drop a filter"
    )];
    if let Some(s) = service {
        if !services.iter().any(|x| x == s) {
            hints.push(format!(
                "no service is named {s:?}; nearest: {}",
                nearest(s, services, 3).join(", ")
            ));
        }
    }
    json!({
        key: [],
        "window": window.to_json(),
        "returned": 0, "total": 0, "truncated": false, "next_cursor": null,
        "services": services.iter().take(50).collect::<Vec<_>>(),
        "hints": hints,
    })
}
