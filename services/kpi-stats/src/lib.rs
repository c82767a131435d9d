//! Data flow: warehouse counts → **kpi-stats** → publisher. The publisher calls this crate to turn
//! unrounded counts into published values (proportions, rates, standardised rates, ratios) with
//! 95% and 99.8% confidence limits, and to apply disclosure control to the counts it shows.
//!
//! Every formula is defined in `shared/spec/statistics.md` and follows OHID's
//! PHEindicatormethods R package, whose own test vectors (`shared/testdata/phe/`) the
//! integration tests check row by row to a relative error of 1e-9.
//!
//! Functions return `None` where the spec says "no value" (for example a zero denominator):
//! an absent value, never zero or NaN.

mod confidence;
mod disclosure;
mod dsr;
mod estimate;
mod poisson;
mod proportion;
mod quantile;
mod rate;
mod ratio;
pub mod spc;

pub use confidence::Confidence;
pub use disclosure::publish_count;
pub use dsr::{dobson_dsr, AgeBand, ESP2013_WEIGHTS};
pub use estimate::Estimate;
pub use poisson::{byars_lower, byars_upper, poisson_limits};
pub use proportion::{wilson, wilson_f64};
pub use rate::crude_rate;
pub use ratio::rate_ratio;
