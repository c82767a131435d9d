//! NHS numbers for synthetic people (kpi-synth → `kpi generate` → NDJSON → `kpi produce` → raw
//! topic): unique per person, passing the Modulus 11 check, and wrong ones for invalid events.

use crate::dist::{Mix, Rng};
use rand::Rng as _;

/// The Modulus 11 check digit of the first nine digits, or `None` when it would be 10 (such a
/// number is never issued).
pub fn check_digit(first9: &[u8]) -> Option<u8> {
    let sum: u32 = first9.iter().zip((2..=10).rev()).map(|(&d, w)| u32::from(d) * w).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

/// Whether `s` is a 10-digit NHS number whose check digit is right.
pub fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let digits: Vec<u8> = b.iter().map(|c| c - b'0').collect();
    check_digit(&digits[..9]) == Some(digits[9])
}

/// A valid NHS number unique to `idx` (`idx < 10_000_000`): `9`, then seven digits from a
/// seed-dependent bijection of `idx`, then a ninth digit chosen at random and moved on when
/// it would make the check digit 10. Numbers starting with 9 are not issued in England.
pub fn nhs_number(idx: u32, seed: u64, rng: &mut Rng) -> String {
    const SPACE: u64 = 10_000_000;
    let body = (u64::from(idx) * 7_654_321 + seed % SPACE) % SPACE;
    let mut digits = [0_u8; 9];
    digits[0] = 9;
    let mut rest = body;
    for k in (1..8).rev() {
        digits[k] = (rest % 10) as u8;
        rest /= 10;
    }
    digits[8] = rng.gen_range(0..10);
    let check = loop {
        match check_digit(&digits) {
            Some(c) => break c,
            None => digits[8] = (digits[8] + 1) % 10,
        }
    };
    let mut s = String::with_capacity(10);
    for d in digits.iter().chain(std::iter::once(&check)) {
        s.push(char::from(b'0' + d));
    }
    s
}

/// A 10-digit number that fails the check: `valid` with another check digit, or (for people
/// with no NHS number) a fresh number whose check digit is wrong or impossible.
pub fn with_wrong_check(valid: Option<&str>, mix: &mut Mix) -> String {
    let mut digits: Vec<u8> = match valid {
        Some(v) => v.bytes().map(|c| c - b'0').collect(),
        None => {
            let mut d = vec![9];
            d.extend((0..9).map(|_| mix.below(10) as u8));
            d
        }
    };
    let right = check_digit(&digits[..9]);
    let mut wrong = (digits[9] + 1 + mix.below(8) as u8) % 10;
    if Some(wrong) == right {
        wrong = (wrong + 1) % 10;
    }
    digits[9] = wrong;
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn known_numbers() {
        assert!(is_valid("9434765919"), "the contract's example");
        assert!(is_valid("9434765870"));
        assert!(!is_valid("9434765918"));
        assert!(!is_valid("943476591"));
    }

    #[test]
    fn generated_numbers_are_valid_and_unique() {
        let mut rng = Rng::seed_from_u64(7);
        let mut mix = Mix(3);
        let mut seen = std::collections::BTreeSet::new();
        for idx in 0..20_000 {
            let n = nhs_number(idx, 42, &mut rng);
            assert!(is_valid(&n), "{n}");
            assert!(seen.insert(n.clone()), "duplicate {n}");
            assert!(!is_valid(&with_wrong_check(Some(&n), &mut mix)));
            assert!(!is_valid(&with_wrong_check(None, &mut mix)));
        }
    }
}
