//! Data flow: warehouse counts by age band → kpi-stats (this file: directly standardised rates,
//! Dobson limits) → publisher, for age-standardised indicators such as suicide or detentions.

use crate::poisson::{byars_lower_formula, byars_upper};
use crate::{Confidence, Estimate};

/// No DSR is published when the total count is below this (statistics.md; PHEindicatormethods).
const MIN_TOTAL_COUNT: u64 = 10;

/// One age band of a directly standardised rate: its event count, its population, and its
/// standard-population weight (normally from [`ESP2013_WEIGHTS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeBand {
    pub count: u64,
    pub population: f64,
    pub weight: f64,
}

/// European Standard Population 2013 weights by five-year age band, 0–4 to 90+, in that
/// order (statistics.md, "Directly standardised rates"; PHEindicatormethods `esp2013`).
/// They sum to 100,000.
pub const ESP2013_WEIGHTS: [(&str, f64); 19] = [
    ("0-4", 5000.0),
    ("5-9", 5500.0),
    ("10-14", 5500.0),
    ("15-19", 5500.0),
    ("20-24", 6000.0),
    ("25-29", 6000.0),
    ("30-34", 6500.0),
    ("35-39", 7000.0),
    ("40-44", 7000.0),
    ("45-49", 7000.0),
    ("50-54", 7000.0),
    ("55-59", 6500.0),
    ("60-64", 6000.0),
    ("65-69", 5500.0),
    ("70-74", 5000.0),
    ("75-79", 4000.0),
    ("80-84", 2500.0),
    ("85-89", 1500.0),
    ("90+", 1000.0),
];

/// Directly standardised rate with Dobson confidence limits (statistics.md, "Directly
/// standardised rates: Dobson"; PHEindicatormethods `phe_dsr`):
///
/// - DSR = Σ(xᵢ·wᵢ/nᵢ) / Σwᵢ · m
/// - var = Σ(xᵢ·(wᵢ/nᵢ)²) / (Σwᵢ)²
/// - O = Σxᵢ; limits = DSR + √(var/O)·(O_Byar − O)·m, with Byar's limits on O
///
/// `None` when the total count O is below 10, or when any population is not a finite positive
/// number, any weight is negative or not finite, or the weights sum to zero.
pub fn dobson_dsr(bands: &[AgeBand], multiplier: f64, c: Confidence) -> Option<Estimate> {
    let total: u64 = bands.iter().map(|b| b.count).sum();
    if total < MIN_TOTAL_COUNT || !(multiplier.is_finite() && multiplier > 0.0) {
        return None;
    }
    let valid = |b: &AgeBand| b.population.is_finite() && b.population > 0.0 && b.weight.is_finite() && b.weight >= 0.0;
    if !bands.iter().all(valid) {
        return None;
    }
    let weight_sum: f64 = bands.iter().map(|b| b.weight).sum();
    if weight_sum <= 0.0 {
        return None;
    }

    let weighted: f64 = bands.iter().map(|b| b.count as f64 * b.weight / b.population).sum();
    let var_sum: f64 = bands.iter().map(|b| b.count as f64 * (b.weight / b.population).powi(2)).sum();
    let value = weighted / weight_sum * multiplier;
    let variance = var_sum / (weight_sum * weight_sum);

    let o = total as f64;
    let spread = (variance / o).sqrt() * multiplier;
    // O ≥ 10, where Byar's lower limit is positive at both levels.
    let o_lower = byars_lower_formula(o, c.z());
    let o_upper = byars_upper(total, c);
    Some(Estimate { value, lower: value + spread * (o_lower - o), upper: value + spread * (o_upper - o) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_100k() {
        let sum: f64 = ESP2013_WEIGHTS.iter().map(|(_, w)| w).sum();
        assert_eq!(sum, 100_000.0);
    }

    fn flat(count: u64) -> Vec<AgeBand> {
        ESP2013_WEIGHTS.iter().map(|&(_, weight)| AgeBand { count, population: 1000.0, weight }).collect()
    }

    #[test]
    fn below_ten_has_no_value() {
        let mut bands = flat(0);
        bands[0].count = 9;
        assert_eq!(dobson_dsr(&bands, 100_000.0, Confidence::P95), None);
        bands[1].count = 1;
        assert!(dobson_dsr(&bands, 100_000.0, Confidence::P95).is_some());
    }

    #[test]
    fn uniform_rate_is_crude_rate() {
        // The same rate in every band standardises to that rate: 2 per 1,000 = 200 per 100,000.
        let e = dobson_dsr(&flat(2), 100_000.0, Confidence::P95).unwrap();
        assert!((e.value - 200.0).abs() < 1e-9, "{e:?}");
        assert!(e.lower < e.value && e.upper > e.value);
    }

    #[test]
    fn bad_population_has_no_value() {
        let mut bands = flat(5);
        bands[3].population = 0.0;
        assert_eq!(dobson_dsr(&bands, 100_000.0, Confidence::P95), None);
    }
}
