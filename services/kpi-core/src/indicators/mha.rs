//! Mental Health Act indicators, counted per person: detention episodes and short-term orders
//! starting in each period (`indicators.md`, "Mental Health Act").

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};

use super::{Family, Shape};
use crate::codes::MhaSection;
use crate::contrib::Emitter;
use crate::event::Payload;
use crate::person::PersonView;

pub const FAMILY: Family = Family {
    name: "mental_health_act",
    emits: &["mha_detentions", "mha_short_term_orders"],
    shape: Shape::Dated(contribute),
};

/// One episode under a section: its start and, once known, its end.
#[derive(Debug, Clone, Copy)]
pub struct Episode {
    pub section: MhaSection,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

/// The person's episodes. The first start event of a detention id opens it; the earliest end
/// not dated before its start closes it (an end before the start is ignored: the engine reports
/// it as `ended_before_started`). An end whose start is unknown has no effect.
pub fn episodes(view: &PersonView) -> Vec<Episode> {
    let mut by_id: BTreeMap<&str, Episode> = BTreeMap::new();
    for event in &view.events {
        if let Payload::MhaDetentionStarted { detention_id, section } = &event.payload {
            by_id.entry(detention_id).or_insert(Episode { section: *section, start: event.date, end: None });
        }
    }
    for event in &view.events {
        if let Payload::MhaDetentionEnded { detention_id } = &event.payload {
            if let Some(episode) = by_id.get_mut(detention_id.as_str()) {
                if event.date >= episode.start && episode.end.is_none() {
                    episode.end = Some(event.date);
                }
            }
        }
    }
    by_id.into_values().collect()
}

/// A section 3 that starts while a section 2 of the same person is open, or within one day of
/// its end, converts that detention rather than starting a new one.
fn is_conversion(episode: &Episode, all: &[Episode]) -> bool {
    episode.section == MhaSection::S3
        && all.iter().any(|other| {
            other.section == MhaSection::S2
                && other.start <= episode.start
                && other.end.is_none_or(|end| episode.start <= end + Days::new(1))
        })
}

fn contribute(view: &PersonView, emit: &mut Emitter) {
    let all = episodes(view);
    for episode in &all {
        if episode.section.is_short_term_order() {
            emit.count_on("mha_short_term_orders", episode.start);
        } else if !is_conversion(episode, &all) {
            emit.count_on("mha_detentions", episode.start);
        }
    }
}
