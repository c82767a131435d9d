//! Data flow: warehouse indicator values → kpi-stats (this file: statistical process control,
//! NHS England "Making Data Count") → publisher. The publisher runs [`analyse`] on each monthly
//! indicator series (indicator × stratum, values in date order) before publishing the mean,
//! limits, special causes and the variation and assurance icons to the warehouse's
//! `indicator_spc` table and to metrics.
//!
//! The definition is `shared/spec/statistics.md`, "Statistical process control". Compute on
//! unrounded values; disclosure control of the result (a derived value is suppressed when any
//! count it is made from is) stays with the publisher.
//!
//! # XmR chart
//!
//! mean = mean of the values; moving ranges MRₜ = |yₜ − yₜ₋₁|; mR̄ = mean of the moving ranges;
//! process limits = mean ± 2.66·mR̄; 2σ lines = mean ± (2/3)·2.66·mR̄. No moving-range
//! screening. With [`SpcSettings::baseline`] set to `b`, the mean and mR̄ come from the first `b`
//! points only (mR̄ from their `b − 1` moving ranges) and every point of the series is judged
//! against those limits; a series no longer than `b` uses all of its points.
//!
//! # Run chart
//!
//! A series of fewer than [`MIN_POINTS_FOR_SIGNALS`] (13) points is a run chart: mean and limits
//! are still reported, but no rule is evaluated, no point is special cause, the variation icon
//! is `common_cause` and there is no assurance icon. The 13 counts the whole series, not the
//! baseline.
//!
//! # Special-cause rules
//!
//! "Above"/"below" are strict throughout: a point exactly on the mean is on neither side, a
//! point exactly on a limit or a 2σ line is not beyond it.
//!
//! 1. **Outside limits**: a point strictly above the upper or below the lower process limit.
//! 2. **Shift**: [`SpcSettings::shift_length`] (default 6) or more consecutive points strictly on
//!    the same side of the mean; a point on the mean breaks the run; every point of the run is
//!    flagged.
//! 3. **Trend**: [`SpcSettings::trend_length`] (default 6) or more consecutive points each
//!    strictly higher (or each strictly lower) than the one before it *within the run*; every
//!    point of the run is flagged. Counting convention: the length counts **points, not steps**,
//!    so a 6-point trend is 6 points with 5 rises (or falls) between them, and all 6 are flagged.
//!    This is the reading that matches the spec's "all 6 flagged" and the Making Data Count
//!    convention as implemented by NHSRplotthedots (a 7-point trend there is a window of 7 points
//!    with 6 differences). A tie (equal neighbours) breaks a trend.
//! 4. **Two in three**: in any 3 consecutive points that all lie strictly on the same side of the
//!    mean, at least 2 strictly beyond that side's 2σ line (points beyond the process limit count
//!    too); the points beyond the 2σ line are flagged, the third is not.
//!
//! # Side of a special-cause point and precedence
//!
//! Rules 1, 2 and 4 describe where a point lies, so their side is the point's side of the mean
//! (a point above the upper limit is above the mean), and they can never disagree with each
//! other. A trend's side is its direction: a rising trend is `High`, a falling one `Low`, even
//! where its points lie on the other side of the mean. When a point carries both a high and a
//! low signal:
//!
//! - a position rule (1, 2 or 4) wins over a trend: a rising trend below the mean that is also a
//!   low shift is `Low`;
//! - a turning point shared by a rising and a falling trend (the only other possible combination)
//!   takes the side of the extreme it is: a peak is `High`, a valley `Low`.
//!
//! # Readings and icons
//!
//! A special-cause point is an improvement or a concern by the indicator's direction: `High` on
//! a higher-is-better indicator is an improvement, on a lower-is-better one a concern; with no
//! direction it is "neither". The series' variation icon is the status of its last point.
//!
//! Assurance against a target, higher is better: target ≤ lower limit → `pass`, target ≥ upper
//! limit → `fail`, otherwise `hit_or_miss`; lower is better: target ≥ upper limit → `pass`,
//! target ≤ lower limit → `fail`, otherwise `hit_or_miss`. `pass` is tested first, which matters
//! only when mR̄ = 0 and the target equals the mean (every point then meets the target). No
//! assurance icon without a target, for direction `Neither`, or on a run chart.
//!
//! # No value
//!
//! [`analyse`] returns `None` for fewer than 2 values (no moving range, so no limits), for any
//! non-finite value, or for a non-finite target: an absent result, never a NaN chart.

use std::fmt;
use std::ops::RangeInclusive;

/// A series needs at least this many points for any special-cause signal; shorter series are
/// run charts.
pub const MIN_POINTS_FOR_SIGNALS: usize = 13;

/// The XmR constant: process limits are mean ± 2.66·mR̄ (3σ with σ = mR̄/1.128).
pub const LIMIT_FACTOR: f64 = 2.66;

/// Allowed shift and trend lengths (statistics.md: "Shift and trend lengths are settings (6 to 8)").
pub const RUN_LENGTH_RANGE: RangeInclusive<usize> = 6..=8;

/// Default shift and trend length (NHS England SPC tool v2.6 defaults, per the spec).
pub const DEFAULT_RUN_LENGTH: usize = 6;

/// Smallest allowed baseline: two points give the one moving range that mR̄ needs.
pub const MIN_BASELINE: usize = 2;

/// Which way an indicator improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
    /// No preferred direction: special causes read as "neither", no assurance icon.
    Neither,
}

/// Settings for [`analyse`]. Build with [`SpcSettings::new`] (validated) or
/// [`SpcSettings::default`] (no baseline, shift and trend of 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpcSettings {
    baseline: Option<usize>,
    shift_length: usize,
    trend_length: usize,
}

impl SpcSettings {
    /// `baseline`: compute the mean and limits from the first that many points (at least
    /// [`MIN_BASELINE`]); `None` uses every point. `shift_length` and `trend_length` must be in
    /// [`RUN_LENGTH_RANGE`] (6 to 8).
    pub fn new(baseline: Option<usize>, shift_length: usize, trend_length: usize) -> Result<Self, SpcSettingsError> {
        if let Some(b) = baseline {
            if b < MIN_BASELINE {
                return Err(SpcSettingsError::Baseline(b));
            }
        }
        if !RUN_LENGTH_RANGE.contains(&shift_length) {
            return Err(SpcSettingsError::ShiftLength(shift_length));
        }
        if !RUN_LENGTH_RANGE.contains(&trend_length) {
            return Err(SpcSettingsError::TrendLength(trend_length));
        }
        Ok(SpcSettings { baseline, shift_length, trend_length })
    }

    pub fn baseline(&self) -> Option<usize> {
        self.baseline
    }

    pub fn shift_length(&self) -> usize {
        self.shift_length
    }

    pub fn trend_length(&self) -> usize {
        self.trend_length
    }
}

impl Default for SpcSettings {
    fn default() -> Self {
        SpcSettings { baseline: None, shift_length: DEFAULT_RUN_LENGTH, trend_length: DEFAULT_RUN_LENGTH }
    }
}

/// A rejected [`SpcSettings`] value; the message states the allowed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpcSettingsError {
    ShiftLength(usize),
    TrendLength(usize),
    Baseline(usize),
}

impl fmt::Display for SpcSettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = (RUN_LENGTH_RANGE.start(), RUN_LENGTH_RANGE.end());
        match self {
            SpcSettingsError::ShiftLength(n) => {
                write!(f, "SPC shift_length must be between {lo} and {hi} points inclusive, got {n}")
            }
            SpcSettingsError::TrendLength(n) => {
                write!(f, "SPC trend_length must be between {lo} and {hi} points inclusive, got {n}")
            }
            SpcSettingsError::Baseline(n) => {
                write!(f, "SPC baseline must be at least {MIN_BASELINE} points (one moving range), got {n}")
            }
        }
    }
}

impl std::error::Error for SpcSettingsError {}

/// Which side of the process a special cause is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    High,
    Low,
}

/// How a special cause reads given the indicator's [`Direction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reading {
    Improvement,
    Concern,
    /// The indicator has no direction.
    Neither,
}

impl Reading {
    /// `High` on a higher-is-better indicator is an improvement; on lower-is-better a concern.
    pub fn of(side: Side, direction: Direction) -> Reading {
        match (direction, side) {
            (Direction::Neither, _) => Reading::Neither,
            (Direction::HigherIsBetter, Side::High) | (Direction::LowerIsBetter, Side::Low) => Reading::Improvement,
            (Direction::HigherIsBetter, Side::Low) | (Direction::LowerIsBetter, Side::High) => Reading::Concern,
        }
    }
}

/// The special-cause rules a point triggered (all `false` on a run chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rules {
    /// Rule 1: strictly beyond a process limit.
    pub outside_limits: bool,
    /// Rule 2: part of a shift.
    pub shift: bool,
    /// Rule 3: part of a trend.
    pub trend: bool,
    /// Rule 4: beyond a 2σ line in a two-in-three pattern.
    pub two_in_three: bool,
}

impl Rules {
    pub fn any(&self) -> bool {
        self.outside_limits || self.shift || self.trend || self.two_in_three
    }
}

/// Side and reading of a special-cause point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecialCause {
    pub side: Side,
    pub reading: Reading,
}

/// Variation icon: the status of a point; for a series, of its last point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VariationIcon {
    ImprovementHigh,
    ImprovementLow,
    ConcernHigh,
    ConcernLow,
    NeitherHigh,
    NeitherLow,
    CommonCause,
}

impl VariationIcon {
    /// The code published to `indicator_spc` and metrics.
    pub fn code(self) -> &'static str {
        match self {
            VariationIcon::ImprovementHigh => "improvement_high",
            VariationIcon::ImprovementLow => "improvement_low",
            VariationIcon::ConcernHigh => "concern_high",
            VariationIcon::ConcernLow => "concern_low",
            VariationIcon::NeitherHigh => "neither_high",
            VariationIcon::NeitherLow => "neither_low",
            VariationIcon::CommonCause => "common_cause",
        }
    }

    /// The icon of a point with this special cause, or `common_cause` for none.
    pub fn of(special_cause: Option<SpecialCause>) -> VariationIcon {
        match special_cause {
            None => VariationIcon::CommonCause,
            Some(SpecialCause { side, reading }) => match (reading, side) {
                (Reading::Improvement, Side::High) => VariationIcon::ImprovementHigh,
                (Reading::Improvement, Side::Low) => VariationIcon::ImprovementLow,
                (Reading::Concern, Side::High) => VariationIcon::ConcernHigh,
                (Reading::Concern, Side::Low) => VariationIcon::ConcernLow,
                (Reading::Neither, Side::High) => VariationIcon::NeitherHigh,
                (Reading::Neither, Side::Low) => VariationIcon::NeitherLow,
            },
        }
    }
}

impl fmt::Display for VariationIcon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Assurance icon: can the process be relied on to meet the target?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssuranceIcon {
    /// The whole process range is on the good side of the target.
    Pass,
    /// The whole process range is on the bad side of the target.
    Fail,
    /// The target lies inside the process limits.
    HitOrMiss,
}

impl AssuranceIcon {
    /// The code published to `indicator_spc` and metrics.
    pub fn code(self) -> &'static str {
        match self {
            AssuranceIcon::Pass => "pass",
            AssuranceIcon::Fail => "fail",
            AssuranceIcon::HitOrMiss => "hit_or_miss",
        }
    }
}

impl fmt::Display for AssuranceIcon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One month of the series with the process it is judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpcPoint {
    pub value: f64,
    pub mean: f64,
    pub lower_limit: f64,
    pub upper_limit: f64,
    pub rules: Rules,
    /// `Some` exactly when a rule fired.
    pub special_cause: Option<SpecialCause>,
}

impl SpcPoint {
    pub fn is_special_cause(&self) -> bool {
        self.special_cause.is_some()
    }

    pub fn variation(&self) -> VariationIcon {
        VariationIcon::of(self.special_cause)
    }
}

/// SPC of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SpcChart {
    pub mean: f64,
    /// Mean moving range.
    pub mr_bar: f64,
    pub lower_limit: f64,
    pub upper_limit: f64,
    /// mean − (2/3)·2.66·mR̄.
    pub lower_two_sigma: f64,
    /// mean + (2/3)·2.66·mR̄.
    pub upper_two_sigma: f64,
    /// How many leading points the mean and limits come from.
    pub baseline_points: usize,
    /// Fewer than [`MIN_POINTS_FOR_SIGNALS`] points: no special-cause signal was looked for.
    pub run_chart: bool,
    /// One per input value, same order.
    pub points: Vec<SpcPoint>,
    /// Status of the last point.
    pub variation: VariationIcon,
    pub assurance: Option<AssuranceIcon>,
}

/// SPC of a monthly series in date order (see the module documentation for every convention).
///
/// `None` for fewer than 2 values, a non-finite value, or a non-finite target.
pub fn analyse(values: &[f64], direction: Direction, target: Option<f64>, settings: SpcSettings) -> Option<SpcChart> {
    let n = values.len();
    if n < 2 || !values.iter().all(|v| v.is_finite()) || target.is_some_and(|t| !t.is_finite()) {
        return None;
    }

    let b = settings.baseline.map_or(n, |b| b.min(n));
    let base = &values[..b];
    let mean = base.iter().sum::<f64>() / b as f64;
    let mr_bar = base.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (b - 1) as f64;
    let half_width = LIMIT_FACTOR * mr_bar;
    let two_sigma = 2.0 / 3.0 * half_width;
    let (lower_limit, upper_limit) = (mean - half_width, mean + half_width);
    let (lower_two_sigma, upper_two_sigma) = (mean - two_sigma, mean + two_sigma);

    let run_chart = n < MIN_POINTS_FOR_SIGNALS;
    let signals = if run_chart {
        vec![(Rules::default(), None); n]
    } else {
        signals(values, mean, (lower_limit, upper_limit), (lower_two_sigma, upper_two_sigma), settings)
    };

    let points: Vec<SpcPoint> = values
        .iter()
        .zip(signals)
        .map(|(&value, (rules, side))| SpcPoint {
            value,
            mean,
            lower_limit,
            upper_limit,
            rules,
            special_cause: side.map(|side| SpecialCause { side, reading: Reading::of(side, direction) }),
        })
        .collect();
    let variation = points.last().map_or(VariationIcon::CommonCause, SpcPoint::variation);
    let assurance = match target {
        Some(target) if !run_chart => assurance(direction, target, lower_limit, upper_limit),
        _ => None,
    };

    Some(SpcChart {
        mean,
        mr_bar,
        lower_limit,
        upper_limit,
        lower_two_sigma,
        upper_two_sigma,
        baseline_points: b,
        run_chart,
        points,
        variation,
        assurance,
    })
}

fn assurance(direction: Direction, target: f64, lower_limit: f64, upper_limit: f64) -> Option<AssuranceIcon> {
    let icon = match direction {
        Direction::Neither => return None,
        Direction::HigherIsBetter if target <= lower_limit => AssuranceIcon::Pass,
        Direction::HigherIsBetter if target >= upper_limit => AssuranceIcon::Fail,
        Direction::LowerIsBetter if target >= upper_limit => AssuranceIcon::Pass,
        Direction::LowerIsBetter if target <= lower_limit => AssuranceIcon::Fail,
        _ => AssuranceIcon::HitOrMiss,
    };
    Some(icon)
}

/// Rules fired and special-cause side of every point of a chart of at least
/// [`MIN_POINTS_FOR_SIGNALS`] points.
fn signals(
    values: &[f64],
    mean: f64,
    (lower_limit, upper_limit): (f64, f64),
    (lower_two_sigma, upper_two_sigma): (f64, f64),
    settings: SpcSettings,
) -> Vec<(Rules, Option<Side>)> {
    let n = values.len();
    let side_of_mean = |v: f64| {
        if v > mean {
            Some(Side::High)
        } else if v < mean {
            Some(Side::Low)
        } else {
            None
        }
    };
    let mut rules = vec![Rules::default(); n];
    // Side from the position rules (1, 2, 4): always the point's side of the mean.
    let mut position: Vec<Option<Side>> = vec![None; n];
    let (mut rising, mut falling) = (vec![false; n], vec![false; n]);

    // Rule 1.
    for (i, &v) in values.iter().enumerate() {
        if v > upper_limit || v < lower_limit {
            rules[i].outside_limits = true;
            position[i] = side_of_mean(v);
        }
    }

    // Rule 2: maximal runs strictly on one side of the mean.
    let mut start = 0;
    while start < n {
        let side = side_of_mean(values[start]);
        let mut end = start + 1;
        if side.is_some() {
            while end < n && side_of_mean(values[end]) == side {
                end += 1;
            }
            if end - start >= settings.shift_length {
                for i in start..end {
                    rules[i].shift = true;
                    position[i] = side;
                }
            }
        }
        start = end;
    }

    // Rule 3: maximal strictly monotone runs, length counted in points.
    for (up, marks) in [(true, &mut rising), (false, &mut falling)] {
        let step = |a: f64, b: f64| if up { b > a } else { b < a };
        let mut start = 0;
        while start < n {
            let mut last = start;
            while last + 1 < n && step(values[last], values[last + 1]) {
                last += 1;
            }
            if last - start + 1 >= settings.trend_length {
                for i in start..=last {
                    rules[i].trend = true;
                    marks[i] = true;
                }
            }
            start = last + 1;
        }
    }

    // Rule 4: two of three beyond the same 2σ line, all three on that side of the mean.
    let beyond_two_sigma = |side: Side, v: f64| match side {
        Side::High => v > upper_two_sigma,
        Side::Low => v < lower_two_sigma,
    };
    for w in 0..n.saturating_sub(2) {
        let window = w..w + 3;
        for side in [Side::High, Side::Low] {
            let same_side = window.clone().all(|i| side_of_mean(values[i]) == Some(side));
            let beyond = || window.clone().filter(|&i| beyond_two_sigma(side, values[i]));
            if same_side && beyond().count() >= 2 {
                for i in beyond() {
                    rules[i].two_in_three = true;
                    position[i] = Some(side);
                }
            }
        }
    }

    (0..n)
        .map(|i| {
            let side = match (position[i], rising[i], falling[i]) {
                (Some(side), _, _) => Some(side),
                (None, true, false) => Some(Side::High),
                (None, false, true) => Some(Side::Low),
                // A turning point in both a rising and a falling trend: a peak is High, a
                // valley Low. It is a peak when it rose from the point before.
                (None, true, true) => Some(if i > 0 && values[i - 1] < values[i] { Side::High } else { Side::Low }),
                (None, false, false) => None,
            };
            debug_assert_eq!(side.is_some(), rules[i].any());
            (rules[i], side)
        })
        .collect()
}
