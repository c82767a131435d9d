//! Random draws for the synthetic feed (kpi-synth → `kpi generate` → NDJSON → `kpi produce` →
//! raw topic). Everything draws from a seeded ChaCha8 stream per person, so output is
//! reproducible; the distributions are written out here to keep the dependency list short.

use rand::Rng as _;

/// The generator's random stream (one per person: seed, then stream = person index).
pub type Rng = rand_chacha::ChaCha8Rng;

pub fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

/// A weighted choice.
pub fn pick<T: Copy>(rng: &mut Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|i| i.1).sum();
    let mut x = rng.gen_range(0..total);
    for &(v, w) in items {
        if x < w {
            return v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// An element chosen uniformly.
pub fn one_of<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

pub fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.gen::<f64>()
}

/// Integer in `[lo, hi]`.
pub fn int(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..=hi)
    }
}

/// Standard normal (Box–Muller).
pub fn std_normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.gen::<f64>();
    let u2 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn normal(rng: &mut Rng, mean: f64, sd: f64) -> f64 {
    mean + sd * std_normal(rng)
}

pub fn lognormal(rng: &mut Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * std_normal(rng)).exp()
}

pub fn exponential(rng: &mut Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.gen::<f64>()).ln()
}

pub fn poisson(rng: &mut Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return normal(rng, lambda, lambda.sqrt()).round().max(0.0) as u32;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p = rng.gen::<f64>();
    while p > limit {
        k += 1;
        p *= rng.gen::<f64>();
    }
    k
}

/// A duration in seconds from a number of days.
pub fn days(d: f64) -> i64 {
    (d * 86_400.0) as i64
}

/// SplitMix64: a tiny deterministic stream for choices made while writing a line, so that
/// writing never consumes the person's main stream.
pub struct Mix(pub u64);

impl Mix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn one_of<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}
