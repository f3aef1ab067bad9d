//! The price table: USD per million tokens (input, output, cached input,
//! cache writes) per model, built in and versioned, extendable and
//! overridable by a JSON file (`TAEL_PRICES_FILE`):
//!
//! ```json
//! {"version": "acme-2026-11",
//!  "models": [{"model": "gpt-4o", "input": 2.5, "output": 10.0, "cached_input": 1.25},
//!             {"model": "acme-finetune", "provider": "openai", "input": 3, "output": 12}]}
//! ```
//!
//! A file entry replaces the built-in entry of the same model, or adds one.
//! The table's version is then `<built-in version>+<file version>`.
//!
//! Lookup normalises the reported model name: it is lower-cased, and a
//! vendor path (`openai/`, `models/`), a Bedrock vendor prefix and version
//! suffix (`us.anthropic.…-v1:0`) and a Vertex `@version` are removed. The
//! longest table key that is a prefix of the name, followed by the end, `-`
//! or `:`, then wins. So `gpt-4o-2024-08-06` is priced as `gpt-4o`,
//! `gpt-4o-mini` as itself, and `gpt-4.5-preview` not at all.
//!
//! Cost = (input − cached − cache writes) × input price + cached × cached
//! price + cache writes × cache-write price + output × output price, all ÷
//! 10⁶. Input tokens include cached ones and output tokens reasoning ones,
//! as the GenAI conventions define them. A missing cached or cache-write
//! price falls back to the input price.

use super::LlmCall;
use serde::{Deserialize, Serialize};

/// The built-in table's version: the date its prices were taken from the
/// providers' public list prices (standard tier; Meta Llama models at a
/// common serverless host's list price).
pub const BUILTIN_VERSION: &str = "2025-10-01";

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

impl Price {
    /// The cost of a call's tokens (`None` when it reports none).
    pub fn cost(&self, c: &LlmCall) -> Option<f64> {
        if c.input_tokens.is_none() && c.output_tokens.is_none() {
            return None;
        }
        let input = c.input_tokens.unwrap_or(0);
        let cached = c.cached_input_tokens.unwrap_or(0).min(input);
        let writes = c
            .cache_creation_input_tokens
            .unwrap_or(0)
            .min(input - cached);
        let plain = input - cached - writes;
        let usd = plain as f64 * self.input
            + cached as f64 * self.cached_input.unwrap_or(self.input)
            + writes as f64 * self.cache_write.unwrap_or(self.input)
            + c.output_tokens.unwrap_or(0) as f64 * self.output;
        Some(usd / 1e6)
    }
}

/// One model's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceEntry {
    /// The model name (a prefix, see the module doc), lower case.
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(flatten)]
    pub price: Price,
}

/// A versioned price table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    pub version: String,
    pub models: Vec<PriceEntry>,
}

/// (provider, model, input, output, cached input, cache write) per 1M tokens.
type Row = (
    &'static str,
    &'static str,
    f64,
    f64,
    Option<f64>,
    Option<f64>,
);

const BUILTIN: &[Row] = &[
    // OpenAI
    ("openai", "gpt-5", 1.25, 10.0, Some(0.125), None),
    ("openai", "gpt-5-mini", 0.25, 2.0, Some(0.025), None),
    ("openai", "gpt-5-nano", 0.05, 0.40, Some(0.005), None),
    ("openai", "gpt-4.1", 2.0, 8.0, Some(0.50), None),
    ("openai", "gpt-4.1-mini", 0.40, 1.60, Some(0.10), None),
    ("openai", "gpt-4.1-nano", 0.10, 0.40, Some(0.025), None),
    ("openai", "gpt-4o", 2.50, 10.0, Some(1.25), None),
    ("openai", "gpt-4o-mini", 0.15, 0.60, Some(0.075), None),
    ("openai", "gpt-4-turbo", 10.0, 30.0, None, None),
    ("openai", "gpt-4", 30.0, 60.0, None, None),
    ("openai", "gpt-3.5-turbo", 0.50, 1.50, None, None),
    ("openai", "o1", 15.0, 60.0, Some(7.50), None),
    ("openai", "o1-mini", 1.10, 4.40, Some(0.55), None),
    ("openai", "o3", 2.0, 8.0, Some(0.50), None),
    ("openai", "o3-mini", 1.10, 4.40, Some(0.55), None),
    ("openai", "o4-mini", 1.10, 4.40, Some(0.275), None),
    ("openai", "text-embedding-3-small", 0.02, 0.0, None, None),
    ("openai", "text-embedding-3-large", 0.13, 0.0, None, None),
    ("openai", "text-embedding-ada-002", 0.10, 0.0, None, None),
    // Anthropic (cache writes: 5-minute TTL price)
    (
        "anthropic",
        "claude-opus-4-5",
        5.0,
        25.0,
        Some(0.50),
        Some(6.25),
    ),
    (
        "anthropic",
        "claude-opus-4-1",
        15.0,
        75.0,
        Some(1.50),
        Some(18.75),
    ),
    (
        "anthropic",
        "claude-opus-4",
        15.0,
        75.0,
        Some(1.50),
        Some(18.75),
    ),
    (
        "anthropic",
        "claude-sonnet-4-5",
        3.0,
        15.0,
        Some(0.30),
        Some(3.75),
    ),
    (
        "anthropic",
        "claude-sonnet-4",
        3.0,
        15.0,
        Some(0.30),
        Some(3.75),
    ),
    (
        "anthropic",
        "claude-haiku-4-5",
        1.0,
        5.0,
        Some(0.10),
        Some(1.25),
    ),
    (
        "anthropic",
        "claude-3-7-sonnet",
        3.0,
        15.0,
        Some(0.30),
        Some(3.75),
    ),
    (
        "anthropic",
        "claude-3-5-sonnet",
        3.0,
        15.0,
        Some(0.30),
        Some(3.75),
    ),
    (
        "anthropic",
        "claude-3-5-haiku",
        0.80,
        4.0,
        Some(0.08),
        Some(1.0),
    ),
    (
        "anthropic",
        "claude-3-opus",
        15.0,
        75.0,
        Some(1.50),
        Some(18.75),
    ),
    (
        "anthropic",
        "claude-3-haiku",
        0.25,
        1.25,
        Some(0.03),
        Some(0.30),
    ),
    // Google (up to 200k-token prompts)
    ("gcp.gemini", "gemini-2.5-pro", 1.25, 10.0, Some(0.31), None),
    (
        "gcp.gemini",
        "gemini-2.5-flash",
        0.30,
        2.50,
        Some(0.075),
        None,
    ),
    (
        "gcp.gemini",
        "gemini-2.5-flash-lite",
        0.10,
        0.40,
        Some(0.025),
        None,
    ),
    (
        "gcp.gemini",
        "gemini-2.0-flash",
        0.10,
        0.40,
        Some(0.025),
        None,
    ),
    (
        "gcp.gemini",
        "gemini-2.0-flash-lite",
        0.075,
        0.30,
        None,
        None,
    ),
    ("gcp.gemini", "gemini-1.5-pro", 1.25, 5.0, None, None),
    ("gcp.gemini", "gemini-1.5-flash", 0.075, 0.30, None, None),
    // Mistral
    ("mistral_ai", "mistral-large", 2.0, 6.0, None, None),
    ("mistral_ai", "mistral-medium", 0.40, 2.0, None, None),
    ("mistral_ai", "mistral-small", 0.10, 0.30, None, None),
    ("mistral_ai", "codestral", 0.30, 0.90, None, None),
    ("mistral_ai", "open-mistral-nemo", 0.15, 0.15, None, None),
    ("mistral_ai", "ministral-8b", 0.10, 0.10, None, None),
    ("mistral_ai", "ministral-3b", 0.04, 0.04, None, None),
    ("mistral_ai", "mistral-embed", 0.10, 0.0, None, None),
    // Meta Llama (serverless host list price)
    ("meta", "llama-4-maverick", 0.27, 0.85, None, None),
    ("meta", "llama-4-scout", 0.18, 0.59, None, None),
    ("meta", "llama-3.3-70b", 0.88, 0.88, None, None),
    ("meta", "llama-3.1-405b", 3.50, 3.50, None, None),
    ("meta", "llama-3.1-70b", 0.88, 0.88, None, None),
    ("meta", "llama-3.1-8b", 0.18, 0.18, None, None),
    // DeepSeek
    ("deepseek", "deepseek-chat", 0.27, 1.10, Some(0.07), None),
    (
        "deepseek",
        "deepseek-reasoner",
        0.55,
        2.19,
        Some(0.14),
        None,
    ),
];

/// Why a prices file was refused.
#[derive(Debug, thiserror::Error)]
#[error("prices file: {0}")]
pub struct PricesError(pub String);

impl PriceTable {
    /// The built-in table.
    pub fn builtin() -> PriceTable {
        PriceTable {
            version: BUILTIN_VERSION.to_string(),
            models: BUILTIN
                .iter()
                .map(|(p, m, i, o, c, w)| PriceEntry {
                    model: m.to_string(),
                    provider: Some(p.to_string()),
                    price: Price {
                        input: *i,
                        output: *o,
                        cached_input: *c,
                        cache_write: *w,
                    },
                })
                .collect(),
        }
    }

    /// This table with a prices file's entries applied (see the module doc).
    pub fn with_file(mut self, json: &str) -> Result<PriceTable, PricesError> {
        let file: PriceTable =
            serde_json::from_str(json).map_err(|e| PricesError(e.to_string()))?;
        if file.version.trim().is_empty() {
            return Err(PricesError("\"version\" must not be empty".into()));
        }
        for mut e in file.models {
            e.model = e.model.trim().to_ascii_lowercase();
            let p = e.price;
            let prices = [Some(p.input), Some(p.output), p.cached_input, p.cache_write];
            if e.model.is_empty() {
                return Err(PricesError("an entry has an empty \"model\"".into()));
            }
            if prices.iter().flatten().any(|x| !x.is_finite() || *x < 0.0) {
                return Err(PricesError(format!(
                    "{:?}: prices must be finite and not negative",
                    e.model
                )));
            }
            match self.models.iter_mut().find(|x| x.model == e.model) {
                Some(x) => *x = e,
                None => self.models.push(e),
            }
        }
        self.version = format!("{}+{}", self.version, file.version.trim());
        Ok(self)
    }

    /// The entry pricing `model` (see the module doc); an entry that names
    /// a provider only prices calls from that provider (or none reported).
    pub fn lookup(&self, provider: &str, model: &str) -> Option<&Price> {
        let name = normalise(model);
        if name.is_empty() {
            return None;
        }
        self.models
            .iter()
            .filter(|e| {
                name.strip_prefix(e.model.as_str())
                    .is_some_and(same_model_suffix)
            })
            .filter(|e| match &e.provider {
                Some(p) if !provider.is_empty() && e.model_is_custom() => p == provider,
                _ => true,
            })
            .max_by_key(|e| e.model.len())
            .map(|e| &e.price)
    }
}

impl PriceEntry {
    /// Entries not in the built-in table (file additions) are matched on
    /// their provider too.
    fn model_is_custom(&self) -> bool {
        !BUILTIN.iter().any(|r| r.1 == self.model)
    }
}

/// Whether what follows a table key in a model name only dates or
/// versions the same model (`-2024-08-06`, `-latest`, `-v2`, `:0`,
/// `-instruct`) rather than naming another one (`-pro`, `-realtime`).
fn same_model_suffix(rest: &str) -> bool {
    if rest.is_empty() || rest.starts_with(':') {
        return true;
    }
    let Some(word) = rest.strip_prefix('-') else {
        return false;
    };
    const SAME: &[&str] = &["latest", "preview", "instruct", "turbo", "chat", "exp"];
    word.starts_with(|c: char| c.is_ascii_digit())
        || (word.starts_with('v') && word[1..].starts_with(|c: char| c.is_ascii_digit()))
        || SAME
            .iter()
            .any(|w| word == *w || word.starts_with(&format!("{w}-")))
}

/// The model name as the table spells it.
fn normalise(model: &str) -> String {
    let mut m = model.trim().to_ascii_lowercase();
    if let Some(i) = m.rfind('/') {
        m = m[i + 1..].to_string();
    }
    if let Some(i) = m.find('@') {
        m.truncate(i);
    }
    // Bedrock: [region.]vendor.model-version:n
    for vendor in ["anthropic.", "meta.", "mistral.", "deepseek.", "openai."] {
        if let Some(i) = m.find(vendor) {
            let before = &m[..i];
            if before.is_empty()
                || (before.ends_with('.') && !before[..before.len() - 1].contains('.'))
            {
                m = m[i + vendor.len()..].to_string();
                if let Some(v) = m.rfind("-v") {
                    if m[v + 2..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit())
                    {
                        m.truncate(v);
                    }
                }
                break;
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(model: &str, input: u64, output: u64) -> LlmCall {
        LlmCall {
            model: model.into(),
            input_tokens: Some(input),
            output_tokens: Some(output),
            ..Default::default()
        }
    }

    #[test]
    fn names_are_normalised_and_matched_on_the_longest_prefix() {
        let t = PriceTable::builtin();
        let p = |m: &str| t.lookup("", m).map(|p| (p.input, p.output));
        assert_eq!(p("gpt-4o-2024-08-06"), Some((2.50, 10.0)));
        assert_eq!(p("gpt-4o-mini-2024-07-18"), Some((0.15, 0.60)));
        assert_eq!(p("GPT-4o"), Some((2.50, 10.0)));
        assert_eq!(p("openai/gpt-4.1-mini"), Some((0.40, 1.60)));
        assert_eq!(p("gpt-4.5-preview"), None);
        assert_eq!(p("o1-pro"), None);
        assert_eq!(p("gpt-4o-realtime-preview"), None);
        assert_eq!(p("o1-preview"), Some((15.0, 60.0)));
        assert_eq!(p("gpt-5-chat-latest"), Some((1.25, 10.0)));
        assert_eq!(p("gpt-4"), Some((30.0, 60.0)));
        assert_eq!(p("claude-3-5-sonnet-20241022"), Some((3.0, 15.0)));
        assert_eq!(p("claude-sonnet-4-5-20250929"), Some((3.0, 15.0)));
        assert_eq!(p("claude-opus-4-5"), Some((5.0, 25.0)));
        assert_eq!(p("claude-opus-4-20250514"), Some((15.0, 75.0)));
        assert_eq!(
            p("us.anthropic.claude-3-5-haiku-20241022-v1:0"),
            Some((0.80, 4.0))
        );
        assert_eq!(p("claude-3-5-sonnet@20240620"), Some((3.0, 15.0)));
        assert_eq!(p("models/gemini-2.5-flash"), Some((0.30, 2.50)));
        assert_eq!(p("gemini-2.5-flash-lite"), Some((0.10, 0.40)));
        assert_eq!(
            p("meta-llama/Llama-3.3-70B-Instruct-Turbo"),
            Some((0.88, 0.88))
        );
        assert_eq!(p("deepseek-chat"), Some((0.27, 1.10)));
        assert_eq!(p("mistral-large-latest"), Some((2.0, 6.0)));
        assert_eq!(p(""), None);
        assert_eq!(p("my-own-model"), None);
    }

    #[test]
    fn cost_counts_cached_and_cache_write_tokens_at_their_prices() {
        let t = PriceTable::builtin();
        let mut c = call("gpt-4o", 1_000_000, 100_000);
        c.cached_input_tokens = Some(400_000);
        let p = t.lookup("openai", "gpt-4o").unwrap();
        // 600k × 2.50 + 400k × 1.25 + 100k × 10 = 1.5 + 0.5 + 1.0
        assert!((p.cost(&c).unwrap() - 3.0).abs() < 1e-9);
        let mut c = call("claude-sonnet-4", 10_000, 1_000);
        c.cache_creation_input_tokens = Some(4_000);
        c.cached_input_tokens = Some(2_000);
        let p = t.lookup("anthropic", "claude-sonnet-4").unwrap();
        // 4k × 3 + 2k × 0.30 + 4k × 3.75 + 1k × 15, per 1M
        let want = (4_000.0 * 3.0 + 2_000.0 * 0.30 + 4_000.0 * 3.75 + 1_000.0 * 15.0) / 1e6;
        assert!((p.cost(&c).unwrap() - want).abs() < 1e-12);
        // Cached beyond the input is clamped; no tokens, no cost.
        let mut c = call("gpt-4o", 10, 0);
        c.cached_input_tokens = Some(1_000);
        assert!((p.cost(&c).unwrap() - 10.0 * 0.30 / 1e6).abs() < 1e-15);
        assert_eq!(p.cost(&LlmCall::default()), None);
    }

    #[test]
    fn the_client_cost_is_used_when_reported() {
        let t = PriceTable::builtin();
        let mut c = call("gpt-4o-mini", 1_000_000, 1_000_000);
        c.apply_prices(&t);
        assert_eq!(c.cost_source.as_deref(), Some("price_table"));
        assert!((c.cost_usd.unwrap() - 0.75).abs() < 1e-9);
        assert_eq!(c.price_version.as_deref(), Some(BUILTIN_VERSION));
        c.client_cost_usd = Some(0.5);
        c.apply_prices(&t);
        assert_eq!(c.cost_usd, Some(0.5));
        assert_eq!(c.cost_source.as_deref(), Some("client"));
        assert!((c.computed_cost_usd.unwrap() - 0.75).abs() < 1e-9);
        let mut unknown = call("my-own-model", 5, 5);
        unknown.apply_prices(&t);
        assert_eq!((unknown.cost_usd, unknown.cost_source), (None, None));
    }

    #[test]
    fn a_file_overrides_and_extends_the_table() {
        let t = PriceTable::builtin()
            .with_file(
                r#"{"version": "acme-1", "models": [
                    {"model": "GPT-4o", "input": 2.0, "output": 8.0},
                    {"model": "acme-ft", "provider": "openai", "input": 3, "output": 12}]}"#,
            )
            .unwrap();
        assert_eq!(t.version, format!("{BUILTIN_VERSION}+acme-1"));
        assert_eq!(t.lookup("", "gpt-4o-2024-08-06").unwrap().input, 2.0);
        assert_eq!(t.lookup("openai", "acme-ft-v2").unwrap().output, 12.0);
        assert_eq!(t.lookup("anthropic", "acme-ft"), None);
        assert_eq!(t.lookup("", "acme-ft").unwrap().input, 3.0);
        for bad in [
            "{",
            r#"{"version": "", "models": []}"#,
            r#"{"version": "x", "models": [{"model": "a", "input": -1, "output": 1}]}"#,
            r#"{"version": "x", "models": [{"model": " ", "input": 1, "output": 1}]}"#,
            r#"{"version": "x", "models": [{"model": "a", "input": 1}]}"#,
        ] {
            assert!(PriceTable::builtin().with_file(bad).is_err(), "{bad}");
        }
    }
}
