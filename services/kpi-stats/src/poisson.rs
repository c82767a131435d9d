//! Data flow: warehouse counts → kpi-stats (this file: limits on an observed count) → publisher,
//! via crude rates, directly standardised rates and the PHE Byar's test vectors.

use crate::quantile::{chi2_lower_quantile, chi2_upper_quantile};
use crate::Confidence;

/// Counts at or above this use Byar's approximation; below it, exact Poisson limits.
const BYARS_FROM: u64 = 10;

/// Byar's formula for the lower limit, for any x > 0 (may be negative for small x).
pub(crate) fn byars_lower_formula(x: f64, z: f64) -> f64 {
    x * (1.0 - 1.0 / (9.0 * x) - z / (3.0 * x.sqrt())).powi(3)
}

/// Byar's lower confidence limit on an observed count x (statistics.md, "Crude rates";
/// PHEindicatormethods `byars_lower`):
///
/// O_lower = x·(1 − 1/(9x) − z/(3·√x))³
///
/// `None` when it is not computable: x = 0, or the formula goes negative (x = 1 at 99.8%),
/// which the PHE test vectors mark as no value.
pub fn byars_lower(x: u64, c: Confidence) -> Option<f64> {
    if x == 0 {
        return None;
    }
    let lower = byars_lower_formula(x as f64, c.z());
    (lower >= 0.0).then_some(lower)
}

/// Byar's upper confidence limit on an observed count x (statistics.md, "Crude rates";
/// PHEindicatormethods `byars_upper`):
///
/// O_upper = (x+1)·(1 − 1/(9(x+1)) + z/(3·√(x+1)))³
pub fn byars_upper(x: u64, c: Confidence) -> f64 {
    let x1 = x as f64 + 1.0;
    x1 * (1.0 - 1.0 / (9.0 * x1) + c.z() / (3.0 * x1.sqrt())).powi(3)
}

/// Confidence limits (lower, upper) on an observed count O = x, as used by crude rates
/// (statistics.md, "Crude rates"; PHEindicatormethods `phe_rate`):
///
/// - x ≥ 10: Byar's limits ([`byars_lower`], [`byars_upper`]);
/// - x < 10: exact Poisson limits, O_lower = χ²_{α/2}(2x)/2 (0 when x = 0) and
///   O_upper = χ²_{1−α/2}(2x + 2)/2, with quantiles from statrs (see `quantile.rs`).
pub fn poisson_limits(x: u64, c: Confidence) -> (f64, f64) {
    let xf = x as f64;
    if x >= BYARS_FROM {
        // Positive for every x ≥ 10 at both levels, so no clamping is needed.
        return (byars_lower_formula(xf, c.z()), byars_upper(x, c));
    }
    let lower = if x == 0 { 0.0 } else { chi2_lower_quantile(2.0 * xf, c.tail()) / 2.0 };
    let upper = chi2_upper_quantile(2.0 * xf + 2.0, c.tail()) / 2.0;
    (lower, upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_count_exact() {
        // Upper limit for 0 events is −ln(α/2): 3.6889 at 95%.
        for c in Confidence::ALL {
            let (lo, hi) = poisson_limits(0, c);
            assert_eq!(lo, 0.0);
            let want = -c.tail().ln();
            assert!(((hi - want) / want).abs() < 1e-14, "{hi} vs {want}");
        }
    }

    #[test]
    fn byars_lower_not_computable() {
        assert_eq!(byars_lower(0, Confidence::P95), None);
        assert_eq!(byars_lower(1, Confidence::P99_8), None);
        assert!(byars_lower(1, Confidence::P95).is_some());
    }

    #[test]
    fn limits_bracket_count() {
        for c in Confidence::ALL {
            for x in 0..200 {
                let (lo, hi) = poisson_limits(x, c);
                let xf = x as f64;
                assert!(lo >= 0.0 && lo <= xf && hi > xf, "x={x} {c:?}: ({lo}, {hi})");
            }
        }
    }
}
