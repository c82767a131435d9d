//! Data flow: warehouse counts → kpi-stats (this file: disclosure control) → publisher, which
//! shows only counts that have passed through `publish_count`.

/// Counts below this are suppressed.
const SUPPRESS_BELOW: u64 = 5;
/// Published counts are rounded to a multiple of this.
const ROUND_TO: u64 = 5;

/// Disclosure control for a published count (statistics.md, "Disclosure control"):
/// `None` (suppressed) when x < 5, else 5·round(x/5).
///
/// x/5 never ends in .5 for a whole x, so there are no ties to break. Apply this only to the
/// count as displayed: statistics are computed from the unrounded count first.
pub fn publish_count(x: u64) -> Option<u64> {
    if x < SUPPRESS_BELOW {
        return None;
    }
    let rem = x % ROUND_TO;
    let down = x - rem;
    // Rounds up when the remainder is 3 or 4. Cannot overflow: u64::MAX is a multiple of 5.
    Some(if rem * 2 > ROUND_TO { down + ROUND_TO } else { down })
}

#[cfg(test)]
mod tests {
    use super::publish_count;

    #[test]
    fn suppresses_and_rounds() {
        let cases = [(0, None), (4, None), (5, Some(5)), (7, Some(5)), (8, Some(10)), (12, Some(10)), (13, Some(15))];
        for (x, want) in cases {
            assert_eq!(publish_count(x), want, "publish_count({x})");
        }
    }

    #[test]
    fn extremes() {
        assert_eq!(publish_count(u64::MAX), Some(u64::MAX));
        assert_eq!(publish_count(u64::MAX - 2), Some(u64::MAX));
        assert_eq!(publish_count(u64::MAX - 3), Some(u64::MAX - 5));
    }
}
