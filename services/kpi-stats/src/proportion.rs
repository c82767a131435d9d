//! Data flow: warehouse counts → kpi-stats (this file: proportions and percentages with Wilson
//! score limits) → publisher.

use crate::{Confidence, Estimate};

/// Wilson score interval for x events out of n, as a proportion of 1 (statistics.md,
/// "Proportions and percentages"; PHEindicatormethods `phe_proportion`, `wilson_lower`,
/// `wilson_upper`):
///
/// lower, upper = (2x + z² ∓ z·√(z² + 4x(1 − x/n))) / (2(n + z²))
///
/// `None` when n = 0 or x > n. Use [`Estimate::scaled`] with 100 for a percentage.
pub fn wilson(x: u64, n: u64, c: Confidence) -> Option<Estimate> {
    if n == 0 || x > n {
        return None;
    }
    wilson_f64(x as f64, n as f64, c)
}

/// [`wilson`] for a non-integer numerator or denominator (for example a weighted count; the PHE
/// test vectors include x = 0.445 of n = 1). Same formula.
///
/// `None` unless 0 ≤ x ≤ n, n > 0 and both are finite.
pub fn wilson_f64(x: f64, n: f64, c: Confidence) -> Option<Estimate> {
    if !(x.is_finite() && n.is_finite() && n > 0.0 && x >= 0.0 && x <= n) {
        return None;
    }
    let z = c.z();
    let z2 = z * z;
    let centre = 2.0 * x + z2;
    let half_width = z * (z2 + 4.0 * x * (1.0 - x / n)).sqrt();
    let denom = 2.0 * (n + z2);
    Some(Estimate {
        value: x / n,
        // The limits are 0 at x = 0 and 1 at x = n exactly; clamp away rounding noise there.
        lower: ((centre - half_width) / denom).max(0.0),
        upper: ((centre + half_width) / denom).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_value() {
        assert_eq!(wilson(0, 0, Confidence::P95), None);
        assert_eq!(wilson(3, 2, Confidence::P95), None);
        assert_eq!(wilson_f64(f64::NAN, 10.0, Confidence::P95), None);
        assert_eq!(wilson_f64(1.0, 0.0, Confidence::P95), None);
    }

    #[test]
    fn bounds_at_extremes() {
        for c in Confidence::ALL {
            let e = wilson(0, 50, c).unwrap();
            assert_eq!((e.value, e.lower), (0.0, 0.0));
            assert!(e.upper > 0.0 && e.upper < 1.0);
            let e = wilson(50, 50, c).unwrap();
            assert_eq!((e.value, e.upper), (1.0, 1.0));
            assert!(e.lower > 0.0 && e.lower < 1.0);
        }
    }
}
