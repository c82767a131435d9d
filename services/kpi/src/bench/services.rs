//! `kpi bench`, the services under test: ingest, engine and publisher started as child processes
//! of this same `kpi` executable, each with its own settings (`KPI__` variables on top of the
//! settings file) and log, so that each one's peak memory can be read from /proc.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use kpi_runtime::settings::Settings;
use tokio::process::{Child, Command};

use super::database::BenchDb;
use super::host_cpu;
use super::topics::Topics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ingest,
    Engine,
    Publisher,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Ingest => "ingest",
            Service::Engine => "engine",
            Service::Publisher => "publisher",
        }
    }
}

/// The pseudonymisation key of the run's ingest: made up per run, never secret.
pub const HMAC_KEY: &str = "kpi-bench-key-not-secret-0123456789abcdef";

/// Settings of every child, on top of the settings file: this run's topics, database, key and
/// consumer groups.
pub fn service_env(settings: &Settings, topics: &Topics, db: &BenchDb) -> Vec<(String, String)> {
    let run = &db.name;
    [
        ("KPI__KAFKA__BROKERS", settings.kafka.brokers.clone()),
        ("KPI__KAFKA__RAW_TOPIC", topics.raw.clone()),
        ("KPI__KAFKA__CANONICAL_TOPIC", topics.canonical.clone()),
        ("KPI__KAFKA__DEAD_LETTER_TOPIC", topics.dead_letter.clone()),
        ("KPI__POSTGRES__URL", db.url.clone()),
        ("KPI__INGEST__HMAC_KEY", HMAC_KEY.to_owned()),
        ("KPI__INGEST__GROUP_ID", format!("{run}-ingest")),
        ("KPI__ENGINE__GROUP_ID", format!("{run}-engine")),
        ("KPI__LOG__LEVEL", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A service process that has exited: a wait on it ends at once instead of at its time limit.
#[derive(Debug)]
pub struct ServiceExited(pub String);

impl std::fmt::Display for ServiceExited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServiceExited {}

/// A running service, killed when dropped.
pub struct Running {
    pub service: Service,
    pub admin: SocketAddr,
    pub log: PathBuf,
    child: Child,
}

impl Running {
    /// Starts `kpi <service>` with `env` and its admin server on a free port; output goes to
    /// `<dir>/<service>.log`.
    pub fn start(
        exe: &Path,
        service: Service,
        config: Option<&Path>,
        env: &[(String, String)],
        dir: &Path,
    ) -> anyhow::Result<Running> {
        let admin = free_port()?;
        let log = dir.join(format!("{}.log", service.name()));
        let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(exe);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let key = format!("KPI__{}__ADMIN_LISTEN", service.name().to_uppercase());
        command
            .arg(service.name())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(key, admin.to_string())
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("starting kpi {}", service.name()))?;
        Ok(Running { service, admin, log, child })
    }

    /// Fails with the end of the log if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(ServiceExited(format!(
                "kpi {} exited ({status}); last lines of {}:\n{}",
                self.service.name(),
                self.log.display(),
                tail.join("\n")
            ))
            .into());
        }
        Ok(())
    }

    /// CPU time used so far, user and system, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let pid = self.child.id().context("the service has exited")?;
        host_cpu::process_seconds(&pid.to_string())
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("the service has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status (peak memory needs Linux /proc)"))?;
        vm_hwm(&status).with_context(|| format!("no VmHWM line in /proc/{pid}/status"))
    }
}

/// This `kpi` executable, linked (else copied) into `dir`, so that every service of the run is
/// the same build as the bench even if the binary is rebuilt meanwhile (a rebuild replaces the
/// file, and /proc/self/exe would then name a deleted one).
pub fn pin_executable(dir: &Path) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the kpi executable to start the services")?;
    anyhow::ensure!(
        exe.is_file(),
        "{} was replaced since this kpi started (rebuilt?): run kpi bench again",
        exe.display()
    );
    let pinned = dir.join("kpi");
    if std::fs::hard_link(&exe, &pinned).is_err() {
        std::fs::copy(&exe, &pinned).with_context(|| format!("copying {} to {}", exe.display(), pinned.display()))?;
    }
    Ok(pinned)
}

/// The `VmHWM:   1234 kB` line of a /proc/<pid>/status, in bytes.
pub fn vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// A loopback port free now (the service binds it a moment later).
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port for a service's admin server")?;
    Ok(listener.local_addr()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status = "Name:\tkpi\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(super::vm_hwm(status), Some(2048 * 1024));
        assert_eq!(super::vm_hwm("Name:\tkpi\n"), None);
    }
}
