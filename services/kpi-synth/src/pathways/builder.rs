//! Collects one person's events while the pathways run (kpi-synth → `kpi generate` → NDJSON →
//! `kpi produce` → raw topic): keeps them inside the window and before death, gives each an
//! entry time (`recorded_at`), and hands out referral, detention and ward stay ids.

use crate::dist::{self, chance, Rng};
use crate::event::{Event, Payload};
use crate::people::Person;
use crate::time::{day_floor, weekday, Window, DAY, MINUTE};

/// Ids per person and kind: `no * 100 + k`, so at most this many of each.
const MAX_IDS: u64 = 100;

pub struct Builder<'a> {
    pub p: &'a Person,
    pub rng: &'a mut Rng,
    pub win: &'a Window,
    pub death: Option<i64>,
    pub events: Vec<Event>,
    /// Whether an SMI diagnosis has been recorded already.
    pub smi_diagnosed: bool,
    /// When the last ward stay ended (stays never overlap).
    pub ward_free_from: i64,
    referrals: u64,
    detentions: u64,
    stays: u64,
}

impl<'a> Builder<'a> {
    pub fn new(p: &'a Person, rng: &'a mut Rng, win: &'a Window, death: Option<i64>) -> Self {
        Builder {
            p,
            rng,
            win,
            death,
            events: Vec::with_capacity(32),
            smi_diagnosed: false,
            ward_free_from: i64::MIN,
            referrals: 0,
            detentions: 0,
            stays: 0,
        }
    }

    pub fn alive(&self, t: i64) -> bool {
        self.death.is_none_or(|d| t <= d)
    }

    /// Whether clinical activity can happen at `t`: inside the window and not after death.
    pub fn active(&self, t: i64) -> bool {
        t >= self.win.start && t < self.win.end && self.alive(t)
    }

    /// Records an event (dropped past the window's end); the usual entry delays.
    pub fn emit(&mut self, t: i64, payload: Payload) -> bool {
        self.emit_late(t, payload, 0.03)
    }

    /// Records an event that is backdated (entered 2–28 days after it happened) with
    /// probability `late`; otherwise entered at once or within hours.
    pub fn emit_late(&mut self, t: i64, payload: Payload, late: f64) -> bool {
        if t < self.win.start || t >= self.win.end {
            return false;
        }
        let r: f64 = rand::Rng::gen(self.rng);
        let delay = if r < late {
            dist::days(dist::uniform(self.rng, 2.0, 28.0))
        } else if r < late + 0.15 {
            0
        } else {
            MINUTE + dist::exponential(self.rng, 90.0 * MINUTE as f64) as i64
        };
        let recorded = (t + delay).min(self.win.end - 1).max(t);
        let show_recorded = recorded != t || !chance(self.rng, 0.3);
        self.events.push(Event { occurred: t, recorded, show_recorded, payload });
        true
    }

    /// Records a clinical event: only while the person is alive.
    pub fn clinical(&mut self, t: i64, payload: Payload) -> bool {
        self.alive(t) && self.emit(t, payload)
    }

    /// When an episode planned to end at `planned` really ends: at death if that comes first;
    /// `None` when that is past the window (still open at the end).
    pub fn end_time(&self, planned: i64) -> Option<i64> {
        let t = match self.death {
            Some(d) if d < planned => d,
            _ => planned,
        };
        (t < self.win.end).then_some(t)
    }

    /// A time within office hours (09:00–17:00, Monday to Friday) on the day of `t` or the
    /// next working day.
    pub fn office(&mut self, t: i64) -> i64 {
        let mut day = day_floor(t);
        while weekday(day) >= 5 {
            day += DAY;
        }
        day + 9 * 3600 + dist::int(self.rng, 0, 31) * 15 * MINUTE
    }

    pub fn next_referral(&mut self) -> Option<u64> {
        next_id(&mut self.referrals, self.p.no)
    }

    pub fn next_detention(&mut self) -> Option<u64> {
        next_id(&mut self.detentions, self.p.no)
    }

    pub fn next_stay(&mut self) -> Option<u64> {
        next_id(&mut self.stays, self.p.no)
    }

    /// Discharges referral `r` at `planned` (or just after death); returns when, or the
    /// window's end when it stays open.
    pub fn discharge(&mut self, r: u64, planned: i64) -> i64 {
        let when = match self.death {
            Some(d) if d < planned => d + dist::days(dist::uniform(self.rng, 1.0, 14.0)),
            _ => planned,
        };
        if when < self.win.end {
            self.emit(when, Payload::ReferralDischarged { referral: r });
            when
        } else {
            self.win.end
        }
    }

    pub fn contact(&mut self, r: u64, t: i64, attended: bool, purpose: &'static str) -> bool {
        self.clinical(t, Payload::CareContact { referral: r, attended, purpose })
    }
}

fn next_id(counter: &mut u64, no: u64) -> Option<u64> {
    if *counter >= MAX_IDS {
        return None;
    }
    *counter += 1;
    Some(no * MAX_IDS + *counter - 1)
}
