//! Reporting periods: every indicator is computed for each calendar month and for the rolling
//! 12 months ending with it (`indicators.md`, "Period"). Periods are named by their end date.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// Month value or rolling-12-month value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PeriodKind {
    #[serde(rename = "month")]
    Month,
    #[serde(rename = "r12")]
    Rolling12,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 2] = [PeriodKind::Month, PeriodKind::Rolling12];

    /// The label used in the warehouse and on metrics.
    pub fn code(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Rolling12 => "r12",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// Number of calendar months the period spans.
    pub fn months(self) -> u32 {
        match self {
            PeriodKind::Month => 1,
            PeriodKind::Rolling12 => 12,
        }
    }
}

/// One reporting period: its kind and its last day (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    pub kind: PeriodKind,
    pub end: NaiveDate,
}

impl Period {
    pub fn new(kind: PeriodKind, any_day_of_last_month: NaiveDate) -> Self {
        Period { kind, end: month_end(any_day_of_last_month) }
    }

    /// First day of the period (inclusive).
    pub fn start(self) -> NaiveDate {
        month_start(self.end) - Months::new(self.kind.months() - 1)
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        self.start() <= date && date <= self.end
    }

    /// Every period that contains `date`: its month, and the 12 rolling periods ending in that
    /// month and the 11 months after it.
    pub fn containing(date: NaiveDate) -> impl Iterator<Item = Period> {
        let month = Period::new(PeriodKind::Month, date);
        let rolling =
            (0..12).map(move |ahead| Period::new(PeriodKind::Rolling12, month_start(date) + Months::new(ahead)));
        std::iter::once(month).chain(rolling)
    }
}

/// First day of the month of `date`.
pub fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).expect("day 1 exists in every month")
}

/// Last day of the month of `date`. From the calendar rather than chrono's month arithmetic,
/// which was a twentieth of the engine's CPU (the engine asks for month ends of every date of
/// every changed person, twice a batch).
pub fn month_end(date: NaiveDate) -> NaiveDate {
    let last = match date.month() {
        2 if date.leap_year() => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    date.with_day(last).expect("the last day of its month exists")
}

/// Days since 1970-01-01: the day numbers that bed-day counts are stored in.
pub fn day_number(date: NaiveDate) -> i64 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days()
}

/// Month ends from the month of `first` to the month of `last`, inclusive.
pub fn month_ends(first: NaiveDate, last: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    let last = month_end(last);
    std::iter::successors(Some(month_end(first)), |end| Some(month_end(*end + chrono::Days::new(1))))
        .take_while(move |end| *end <= last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn rolling_period_spans_twelve_months() {
        let p = Period::new(PeriodKind::Rolling12, d("2024-03-15"));
        assert_eq!(p.end, d("2024-03-31"));
        assert_eq!(p.start(), d("2023-04-01"));
        let m = Period::new(PeriodKind::Month, d("2024-02-10"));
        assert_eq!((m.start(), m.end), (d("2024-02-01"), d("2024-02-29")));
    }

    #[test]
    fn a_date_falls_in_its_month_and_twelve_rolling_periods() {
        let periods: Vec<_> = Period::containing(d("2024-01-31")).collect();
        assert_eq!(periods.len(), 13);
        assert!(periods.iter().all(|p| p.contains(d("2024-01-31"))));
        assert_eq!(periods.last().unwrap().end, d("2024-12-31"));
    }

    #[test]
    fn month_end_agrees_with_month_arithmetic_on_every_day_of_two_centuries() {
        let mut day = d("1900-01-01");
        while day <= d("2100-12-31") {
            assert_eq!(month_end(day), month_start(day) + Months::new(1) - chrono::Days::new(1), "{day}");
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn month_ends_are_inclusive() {
        let ends: Vec<_> = month_ends(d("2023-11-05"), d("2024-02-01")).collect();
        assert_eq!(ends, vec![d("2023-11-30"), d("2023-12-31"), d("2024-01-31"), d("2024-02-29")]);
    }
}
