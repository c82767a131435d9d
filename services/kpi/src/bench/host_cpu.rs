//! `kpi bench`, CPU accounting of the service phases (4, 5) and of phase 9, from /proc: the time
//! of one process (a service the bench started, or the bench itself with its producer) and of
//! every process of one command name (PostgreSQL's backends, the broker), so that the cores a
//! phase used are accounted for, and a stage's rate can be set against the work behind it.

use std::collections::HashMap;

use anyhow::Context;

use super::report::ProcessCpu;

/// PostgreSQL's and the broker's CPU time from one moment on: the two shared processes that
/// work beside a service on this machine.
pub struct Shared([ByName; 2]);

impl Shared {
    pub fn now() -> Shared {
        Shared([ByName::now("postgres"), ByName::now("tansu")])
    }

    /// Each one's seconds since [`Shared::now`], leaving out one that does not run here.
    pub fn since(&self) -> anyhow::Result<Vec<ProcessCpu>> {
        let mut used = Vec::new();
        for (others, process) in self.0.iter().zip(["postgresql", "broker (tansu)"]) {
            if let Some(seconds) = others.seconds_since()? {
                used.push(ProcessCpu { process, seconds });
            }
        }
        Ok(used)
    }
}

/// CPU ticks of every process of one command name at one moment.
pub struct ByName {
    name: &'static str,
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
    process_seconds("self")
}

/// CPU seconds so far, user and system, of the process `/proc/<pid>` names (`self` for this one).
pub fn process_seconds(pid: &str) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat =
        std::fs::read_to_string(&path).with_context(|| format!("reading {path} (CPU time needs Linux /proc)"))?;
    let ticks = cpu_ticks(&stat).with_context(|| format!("no CPU times in {path}"))?;
    Ok(ticks as f64 / ticks_per_second()?)
}

/// The unit of the CPU times in /proc.
fn ticks_per_second() -> anyhow::Result<f64> {
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    anyhow::ensure!(per_second > 0, "the system does not say how many clock ticks make a second");
    Ok(per_second as f64)
}

/// utime + stime (fields 14 and 15) of a /proc/<pid>/stat line, in clock ticks. The fields are
/// counted after the command name, which is in parentheses and may itself hold spaces.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // field 3 (state) is the first here
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
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
    fn cpu_ticks_are_user_plus_system_whatever_the_command_name() {
        let stat = "4242 (kpi (a) b) S 1 4242 4242 0 -1 4194560 2000 0 0 0 731 129 0 0 20 0 9 0 100 0 0";
        assert_eq!(super::cpu_ticks(stat), Some(860));
        assert_eq!(super::cpu_ticks("4242 (kpi) S 1"), None);
    }

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
