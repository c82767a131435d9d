//! Data flow: warehouse counts → kpi-stats (this file: the two confidence levels) → publisher,
//! which publishes every value with limits at both levels.

/// A confidence level for published limits: the two levels OHID Fingertips shows
/// (statistics.md, "Statistical methods").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Confidence {
    /// 95% limits.
    P95,
    /// 99.8% limits.
    P99_8,
}

impl Confidence {
    /// Both levels, in the order they are published.
    pub const ALL: [Confidence; 2] = [Confidence::P95, Confidence::P99_8];

    /// z = Φ⁻¹(1 − α/2), exactly the constants given in statistics.md (R's `qnorm`).
    pub const fn z(self) -> f64 {
        match self {
            Confidence::P95 => 1.959963984540054,
            Confidence::P99_8 => 3.090232306167813,
        }
    }

    /// The confidence level as a fraction: 0.95 or 0.998.
    pub const fn level(self) -> f64 {
        match self {
            Confidence::P95 => 0.95,
            Confidence::P99_8 => 0.998,
        }
    }

    /// The probability α/2 in each tail: 0.025 or 0.001.
    pub const fn tail(self) -> f64 {
        match self {
            Confidence::P95 => 0.025,
            Confidence::P99_8 => 0.001,
        }
    }

    /// The label used in published output and in the PHE test vectors: "95%" or "99.8%".
    pub const fn label(self) -> &'static str {
        match self {
            Confidence::P95 => "95%",
            Confidence::P99_8 => "99.8%",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_matches_tail() {
        // Φ⁻¹(1 − tail) via statrs agrees with the hard-coded constants.
        use statrs::distribution::{ContinuousCDF, Normal};
        let n = Normal::standard();
        for c in Confidence::ALL {
            let z = n.inverse_cdf(1.0 - c.tail());
            assert!((z - c.z()).abs() < 1e-12, "{c:?}: {z} vs {}", c.z());
            assert!((1.0 - 2.0 * c.tail() - c.level()).abs() < 1e-15);
        }
    }
}
