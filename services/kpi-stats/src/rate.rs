//! Data flow: warehouse counts → kpi-stats (this file: crude rates per 1,000 or 100,000 with
//! Byar's or exact Poisson limits) → publisher.

use crate::poisson::poisson_limits;
use crate::{Confidence, Estimate};

/// Crude rate x/n·m with limits O/n·m on the observed count (statistics.md, "Crude rates";
/// PHEindicatormethods `phe_rate`): Byar's limits for x ≥ 10, exact Poisson below 10 (see
/// [`crate::poisson_limits`]).
///
/// `None` when the denominator is not a finite positive number, or the multiplier is not.
pub fn crude_rate(x: u64, denominator: f64, multiplier: f64, c: Confidence) -> Option<Estimate> {
    if !(denominator.is_finite() && denominator > 0.0) {
        return None;
    }
    if !(multiplier.is_finite() && multiplier > 0.0) {
        return None;
    }
    let (lower, upper) = poisson_limits(x, c);
    let per = |count: f64| count / denominator * multiplier;
    Some(Estimate { value: per(x as f64), lower: per(lower), upper: per(upper) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_value() {
        for n in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(crude_rate(5, n, 1000.0, Confidence::P95), None, "n={n}");
        }
    }

    #[test]
    fn zero_count_has_zero_rate_and_positive_upper() {
        let e = crude_rate(0, 1000.0, 1000.0, Confidence::P95).unwrap();
        assert_eq!((e.value, e.lower), (0.0, 0.0));
        assert!(e.upper > 3.68 && e.upper < 3.69, "{}", e.upper);
    }
}
