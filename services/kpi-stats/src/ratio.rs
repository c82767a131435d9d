//! Data flow: warehouse counts → kpi-stats (this file: rate ratios between a group and its
//! reference) → publisher.

use crate::{Confidence, Estimate};

/// Rate ratio of group g against reference r (statistics.md, "Rate ratio between two groups"):
///
/// RR = (x_g/n_g) / (x_r/n_r), limits = exp(ln RR ± z·√(1/x_g + 1/x_r))
///
/// `None` when either count is 0 or either denominator is not a finite positive number.
pub fn rate_ratio(x_g: u64, n_g: f64, x_r: u64, n_r: f64, c: Confidence) -> Option<Estimate> {
    let positive = |n: f64| n.is_finite() && n > 0.0;
    if x_g == 0 || x_r == 0 || !positive(n_g) || !positive(n_r) {
        return None;
    }
    let (xg, xr) = (x_g as f64, x_r as f64);
    let value = (xg / n_g) / (xr / n_r);
    let se_log = (1.0 / xg + 1.0 / xr).sqrt();
    let ln_rr = value.ln();
    Some(Estimate { value, lower: (ln_rr - c.z() * se_log).exp(), upper: (ln_rr + c.z() * se_log).exp() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) -> bool {
        ((got - want) / want).abs() <= 1e-12
    }

    #[test]
    fn hand_computed() {
        // 30 per 1,000 against 20 per 2,000: RR = 0.03 / 0.01 = 3.
        // se(ln RR) = √(1/30 + 1/20) = √(1/12) = 0.28867513459481287.
        let se = (1.0f64 / 12.0).sqrt();
        for c in Confidence::ALL {
            let e = rate_ratio(30, 1000.0, 20, 2000.0, c).unwrap();
            assert!(close(e.value, 3.0), "{e:?}");
            assert!(close(e.lower, 3.0 * (-c.z() * se).exp()), "{e:?}");
            assert!(close(e.upper, 3.0 * (c.z() * se).exp()), "{e:?}");
        }
        // The same limits written out, computed independently with bc (30 digits, shown to 16).
        let expected = [
            (Confidence::P95, 1.703_729_073_991_928, 5.282_530_032_144_443),
            (Confidence::P99_8, 1.229_415_756_417_289, 7.320_550_393_975_276),
        ];
        for (c, lower, upper) in expected {
            let e = rate_ratio(30, 1000.0, 20, 2000.0, c).unwrap();
            assert!(close(e.lower, lower) && close(e.upper, upper), "{c:?}: {e:?}");
        }
    }

    #[test]
    fn equal_rates_give_symmetric_log_interval() {
        let e = rate_ratio(50, 500.0, 100, 1000.0, Confidence::P99_8).unwrap();
        assert!(close(e.value, 1.0));
        assert!(close(e.lower * e.upper, 1.0), "{e:?}");
    }

    #[test]
    fn no_value() {
        let c = Confidence::P95;
        assert_eq!(rate_ratio(0, 10.0, 5, 10.0, c), None);
        assert_eq!(rate_ratio(5, 10.0, 0, 10.0, c), None);
        assert_eq!(rate_ratio(5, 0.0, 5, 10.0, c), None);
        assert_eq!(rate_ratio(5, 10.0, 5, -1.0, c), None);
        assert_eq!(rate_ratio(5, f64::NAN, 5, 10.0, c), None);
    }
}
