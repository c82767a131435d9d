//! Time for the synthetic feed (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw topic):
//! the configured window, and fast RFC 3339 / date formatting of UTC epoch seconds.

use chrono::{Months, NaiveDate};

pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
#[cfg(test)]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn push_2(out: &mut String, v: u32) {
    out.push(char::from(b'0' + (v / 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
}

/// Appends `YYYY-MM-DD` for a day number.
pub fn push_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    let y = y as u32;
    push_2(out, y / 100);
    push_2(out, y % 100);
    out.push('-');
    push_2(out, m);
    out.push('-');
    push_2(out, d);
}

/// Appends `YYYY-MM-DDTHH:MM:SSZ` for epoch seconds.
pub fn push_timestamp(out: &mut String, t: i64) {
    push_date(out, t.div_euclid(DAY));
    let s = t.rem_euclid(DAY) as u32;
    out.push('T');
    push_2(out, s / 3600);
    out.push(':');
    push_2(out, s / 60 % 60);
    out.push(':');
    push_2(out, s % 60);
    out.push('Z');
}

/// Start of the UTC day holding `t`.
pub fn day_floor(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

/// Day of the week, 0 = Monday … 6 = Sunday.
pub fn weekday(t: i64) -> i64 {
    (t.div_euclid(DAY) + 3).rem_euclid(7)
}

/// The configured months: `[start, end)` in epoch seconds, with every month's start.
#[derive(Debug, Clone)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    /// Start of each month, then `end`: `months + 1` entries.
    pub bounds: Vec<i64>,
}

impl Window {
    /// `None` when the months run past chrono's range.
    pub fn new(start: NaiveDate, months: u32) -> Option<Window> {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
        let mut bounds = Vec::with_capacity(months as usize + 1);
        for k in 0..=months {
            let d = start.checked_add_months(Months::new(k))?;
            bounds.push(d.signed_duration_since(epoch).num_days() * DAY);
        }
        Some(Window { start: bounds[0], end: *bounds.last()?, bounds })
    }

    pub fn len(&self) -> i64 {
        self.end - self.start
    }

    /// The index of the month holding `t` (clamped to the window).
    pub fn month_of(&self, t: i64) -> usize {
        let i = self.bounds.partition_point(|&b| b <= t);
        i.saturating_sub(1).min(self.bounds.len().saturating_sub(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_chrono() {
        for &t in &[0_i64, 951_782_400, 1_709_288_100, 1_704_067_199, 4_102_444_800] {
            let mut s = String::new();
            push_timestamp(&mut s, t);
            let c = chrono::DateTime::from_timestamp(t, 0).unwrap();
            assert_eq!(s, c.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        assert_eq!(days_from_civil(2024, 3, 1), 19_783);
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(weekday(1_709_288_100), 4, "2024-03-01 was a Friday");
    }

    #[test]
    fn window_months() {
        let w = Window::new(NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(), 2).unwrap();
        assert_eq!(w.bounds.len(), 3);
        assert_eq!(w.end - w.start, 59 * DAY);
        assert_eq!(w.month_of(w.start), 0);
        assert_eq!(w.month_of(w.start + 40 * DAY), 1);
        assert_eq!(w.month_of(w.end - 1), 1);
    }
}
