//! Data flow: warehouse counts → kpi-stats → publisher; this file holds the value-with-limits
//! type that every kpi-stats method hands to the publisher.

/// A published value with its confidence limits, in the unit of the method that produced it
/// (a proportion of 1, a rate per `multiplier`, a ratio).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Estimate {
    /// Value and both limits multiplied by `factor`, e.g. 100 to turn a proportion of 1 into a
    /// percentage (statistics.md, "Proportions and percentages").
    pub fn scaled(self, factor: f64) -> Estimate {
        Estimate { value: self.value * factor, lower: self.lower * factor, upper: self.upper * factor }
    }
}
