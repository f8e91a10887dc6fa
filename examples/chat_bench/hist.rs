//! A fixed-bucket log-linear histogram (HDR-like): exact below 128 µs, then 64 buckets per
//! power of two (under 1.6 % relative error). Values are microseconds.

const SUB_BITS: u32 = 7;
const HALF: u64 = 1 << (SUB_BITS - 1);
/// Largest value kept exactly enough: 2^37 µs (about 38 hours); larger values are clamped.
const MAX_MSB: u32 = 36;
const BUCKETS: usize = ((MAX_MSB - SUB_BITS + 3) as u64 * HALF) as usize;
const MAX_VALUE: u64 = (1 << (MAX_MSB + 1)) - 1;

#[derive(Clone, Debug)]
pub struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: u64,
    sum: u128,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            counts: vec![0; BUCKETS],
            n: 0,
            max: 0,
            sum: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < 2 * HALF {
        return v as usize;
    }
    let shift = (63 - v.leading_zeros()) - (SUB_BITS - 1);
    (u64::from(shift) * HALF + (v >> shift)) as usize
}

/// The smallest value and the width of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * HALF {
        return (i, 1);
    }
    let shift = i / HALF - 1;
    ((i - shift * HALF) << shift, 1 << shift)
}

impl Hist {
    pub fn record(&mut self, us: u64) {
        let v = us.min(MAX_VALUE);
        self.counts[index(v)] += 1;
        self.n += 1;
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.n += other.n;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum as f64 / self.n as f64
        }
    }

    /// The value at quantile `q` (0..=1): the middle of its bucket, never above the maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bounds(i);
                return (low + width / 2).min(self.max);
            }
        }
        self.max
    }

    /// `{count, p50_ms, p90_ms, p99_ms, max_ms, mean_ms}`.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.n,
            "p50_ms": ms(self.quantile(0.50)),
            "p90_ms": ms(self.quantile(0.90)),
            "p99_ms": ms(self.quantile(0.99)),
            "max_ms": ms(self.max),
            "mean_ms": round3(self.mean() / 1000.0),
        })
    }

    pub fn line(&self) -> String {
        if self.n == 0 {
            return "no samples".into();
        }
        format!(
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            ms(self.quantile(0.50)),
            ms(self.quantile(0.90)),
            ms(self.quantile(0.99)),
            ms(self.max),
            self.n
        )
    }
}

pub fn ms(us: u64) -> f64 {
    round3(us as f64 / 1000.0)
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
