//! Latency quantiles with bounded memory.
//!
//! A [`Sketch`] keeps the exact values while it holds at most
//! [`EXACT_VALUES`] of them; quantiles are then exact, linearly interpolated
//! between the two nearest ranks (the `quantile_cont` / NumPy default
//! definition). Beyond that it becomes a logarithmic histogram (the DDSketch
//! layout): value `x > 0` goes to bin `ceil(ln x / ln γ)` with
//! `γ = (1 + α) / (1 - α)` and `α = 0.5%`, and a quantile is the
//! representative `2γ^i / (γ + 1)` of the bin holding its rank, so every
//! reported quantile is within 0.5% of a value at that rank. Min and max are
//! always exact. Sketches merge, so per-part or per-shard results combine.

/// Values kept exactly before switching to bins.
pub const EXACT_VALUES: usize = 1024;
/// Relative accuracy of binned quantiles.
pub const RELATIVE_ACCURACY: f64 = 0.005;

fn gamma_ln() -> f64 {
    ((1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)).ln()
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum Store {
    Exact(Vec<i64>),
    /// `bins[i]` counts values in bin `offset + i`; `zeros` counts values ≤ 0.
    Bins {
        offset: i32,
        bins: Vec<u64>,
        zeros: u64,
    },
}

/// Quantile sketch over non-negative integers (durations in ns).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sketch {
    store: Store,
    count: u64,
    min: i64,
    max: i64,
    sum: f64,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            store: Store::Exact(Vec::new()),
            count: 0,
            min: i64::MAX,
            max: i64::MIN,
            sum: 0.0,
        }
    }
}

fn bin_of(v: i64, ln_gamma: f64) -> Option<i32> {
    (v > 0).then(|| ((v as f64).ln() / ln_gamma).ceil() as i32)
}

impl Sketch {
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn min(&self) -> Option<i64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    pub fn add(&mut self, v: i64) {
        self.count += 1;
        self.sum += v as f64;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        match &mut self.store {
            Store::Exact(vals) => {
                vals.push(v);
                if vals.len() > EXACT_VALUES {
                    self.switch_to_bins();
                }
            }
            Store::Bins { .. } => self.add_binned(v, 1),
        }
    }

    fn switch_to_bins(&mut self) {
        if let Store::Exact(vals) = &mut self.store {
            let vals = std::mem::take(vals);
            self.store = Store::Bins {
                offset: 0,
                bins: Vec::new(),
                zeros: 0,
            };
            for v in vals {
                self.add_binned(v, 1);
            }
        }
    }

    fn add_binned(&mut self, v: i64, n: u64) {
        self.add_to_bin(bin_of(v, gamma_ln()), n)
    }

    /// Adds `n` to bin `b` (`None`: the zero bin).
    fn add_to_bin(&mut self, b: Option<i32>, n: u64) {
        let Store::Bins {
            offset,
            bins,
            zeros,
        } = &mut self.store
        else {
            return;
        };
        let Some(b) = b else {
            *zeros += n;
            return;
        };
        if bins.is_empty() {
            *offset = b;
            bins.push(0);
        } else if b < *offset {
            let grow = (*offset - b) as usize;
            bins.splice(0..0, std::iter::repeat_n(0, grow));
            *offset = b;
        } else if (b - *offset) as usize >= bins.len() {
            bins.resize((b - *offset) as usize + 1, 0);
        }
        bins[(b - *offset) as usize] += n;
    }

    /// Folds `other` into this sketch.
    pub fn merge(&mut self, other: &Sketch) {
        if other.count == 0 {
            return;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        match &other.store {
            Store::Exact(vals) => {
                for v in vals {
                    match &mut self.store {
                        Store::Exact(mine) => mine.push(*v),
                        Store::Bins { .. } => self.add_binned(*v, 1),
                    }
                }
                if matches!(&self.store, Store::Exact(v) if v.len() > EXACT_VALUES) {
                    self.switch_to_bins();
                }
            }
            Store::Bins {
                offset,
                bins,
                zeros,
            } => {
                self.switch_to_bins();
                self.add_to_bin(None, *zeros);
                for (i, n) in bins.iter().enumerate() {
                    if *n > 0 {
                        self.add_to_bin(Some(offset + i as i32), *n);
                    }
                }
            }
        }
    }

    /// The `q` quantile (0 ≤ q ≤ 1), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        match &self.store {
            Store::Exact(vals) => {
                let mut v = vals.clone();
                v.sort_unstable();
                let pos = q * (v.len() - 1) as f64;
                let lo = pos.floor() as usize;
                let hi = pos.ceil() as usize;
                let frac = pos - lo as f64;
                Some(v[lo] as f64 + (v[hi] as f64 - v[lo] as f64) * frac)
            }
            Store::Bins {
                offset,
                bins,
                zeros,
            } => {
                let rank = (q * (self.count - 1) as f64).floor() as u64;
                if rank < *zeros {
                    return Some(self.min.max(0) as f64);
                }
                let mut seen = *zeros;
                let g = gamma_ln();
                for (i, n) in bins.iter().enumerate() {
                    seen += n;
                    if seen > rank {
                        let gamma = g.exp();
                        let rep = 2.0 * ((offset + i as i32) as f64 * g).exp() / (gamma + 1.0);
                        return Some(rep.clamp(self.min as f64, self.max as f64));
                    }
                }
                Some(self.max as f64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_when_small() {
        let mut s = Sketch::default();
        for v in [10, 20, 30, 40, 50] {
            s.add(v);
        }
        assert_eq!(s.quantile(0.5), Some(30.0));
        assert_eq!(s.quantile(0.95), Some(48.0));
        assert_eq!(s.quantile(0.0), Some(10.0));
        assert_eq!(s.quantile(1.0), Some(50.0));
        assert_eq!(Sketch::default().quantile(0.5), None);
    }

    #[test]
    fn binned_within_relative_accuracy() {
        let mut s = Sketch::default();
        let vals: Vec<i64> = (1..=100_000)
            .map(|i| i * 1_000 + (i * 7919) % 997)
            .collect();
        for v in &vals {
            s.add(*v);
        }
        let mut sorted = vals.clone();
        sorted.sort_unstable();
        for q in [0.01, 0.5, 0.9, 0.95, 0.99, 0.999] {
            let exact = sorted[(q * (sorted.len() - 1) as f64).floor() as usize] as f64;
            let got = s.quantile(q).unwrap();
            assert!(
                ((got - exact) / exact).abs() <= RELATIVE_ACCURACY * 1.01,
                "q {q}: {got} vs {exact}"
            );
        }
        assert_eq!(s.min(), Some(sorted[0]));
        assert_eq!(s.max(), Some(*sorted.last().unwrap()));
    }

    #[test]
    fn merge_equals_single_sketch() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..5000i64 {
            let v = (i * 37) % 10_000;
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        let mut small = Sketch::default();
        small.add(5);
        a.merge(&b);
        a.merge(&small);
        all.add(5);
        assert_eq!(a.count(), all.count());
        for q in [0.1, 0.5, 0.99] {
            assert_eq!(a.quantile(q), all.quantile(q));
        }
    }
}
