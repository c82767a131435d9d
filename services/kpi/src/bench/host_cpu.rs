//! `kpi bench`, phase 9's view of the processes it does not start: the CPU time of PostgreSQL,
//! the broker and the bench itself (its producer) on this machine, beside the services', so
//! that the end to end's cores are accounted for. Read from /proc, by command name.

use std::collections::HashMap;

use super::services::{cpu_ticks, ticks_per_second};

/// CPU ticks of every process of one command name at one moment.
pub struct ByName {
    pub name: &'static str,
    ticks: HashMap<u32, u64>,
}

impl ByName {
    pub fn now(name: &'static str) -> ByName {
        ByName { name, ticks: ticks_of(name) }
    }

    /// Seconds used since [`ByName::now`] by the processes of this name, counting those started
    /// since from zero; `None` if there are none (a remote PostgreSQL, another broker). Those
    /// that exited meanwhile are missed: PostgreSQL's backends here are the services' pooled
    /// connections, which stay.
    pub fn seconds_since(&self) -> anyhow::Result<Option<f64>> {
        let now = ticks_of(self.name);
        if now.is_empty() {
            return Ok(None);
        }
        let used: u64 = now.iter().map(|(pid, t)| t.saturating_sub(self.ticks.get(pid).copied().unwrap_or(0))).sum();
        Ok(Some(used as f64 / ticks_per_second()?))
    }
}

/// This process's own CPU seconds so far.
pub fn own_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| anyhow::anyhow!("no CPU times in /proc/self/stat"))?;
    Ok(ticks as f64 / ticks_per_second()?)
}

fn ticks_of(name: &str) -> HashMap<u32, u64> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            (command_name(&stat)? == name).then_some(())?;
            Some((pid, cpu_ticks(&stat)?))
        })
        .collect()
}

/// The command name of a /proc/<pid>/stat line: between the first `(` and the last `)`.
fn command_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_name_may_hold_parentheses() {
        assert_eq!(super::command_name("12 (postgres) S 1 2"), Some("postgres"));
        assert_eq!(super::command_name("12 (a (b)) S 1 2"), Some("a (b)"));
        assert_eq!(super::command_name("12 postgres"), None);
    }

    #[test]
    fn this_process_is_found_by_its_name_and_uses_time() {
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        let name: &'static str = Box::leak(super::command_name(&own).unwrap().to_owned().into_boxed_str());
        let before = super::ByName::now(name);
        let own_before = super::own_seconds().unwrap();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while super::own_seconds().unwrap() - own_before < 0.1 && started.elapsed().as_secs() < 30 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(before.seconds_since().unwrap().unwrap() >= 0.09);
        assert!(super::ByName::now("no-such-command-name").seconds_since().unwrap().is_none());
    }
}
