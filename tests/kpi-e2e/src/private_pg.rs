//! Test harness for faults at the warehouse end of the data flow: a private PostgreSQL cluster
//! (its own data directory and port) that a test may stop and start again, so that the
//! machine's shared server, which other tests use in parallel, is never touched.
//!
//! `initdb` and `postgres` refuse to run as root, so both run as the `postgres` user when the
//! test runs as root (a setuid in the child before exec). The server is a direct child with
//! the parent-death signal set (see [`crate::process`]), so it dies with the test process; it is
//! stopped on drop and its directory removed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tempfile::TempDir;

use crate::process::{spawn_tied, terminate};
use crate::{free_port, wait_for_port};

/// A private PostgreSQL server on a loopback port, trust authentication, user `postgres`.
pub struct PrivatePg {
    dir: TempDir,
    port: u16,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
    starts: u32,
}

impl PrivatePg {
    /// Creates a cluster in a temporary directory (`initdb`) and starts it.
    pub async fn start() -> PrivatePg {
        let mut pg = PrivatePg::init();
        pg.start_again().await;
        pg
    }

    /// Like [`PrivatePg::start`], serving TLS (`ssl = on`) with this certificate and key (PEM).
    /// Plain connections are still allowed: the client's `sslmode` decides.
    pub async fn start_with_tls(cert: &Path, key: &Path) -> PrivatePg {
        let mut pg = PrivatePg::init();
        for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
            let to = pg.data().join(name);
            std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copying {} into the cluster: {e}", from.display()));
            // PostgreSQL refuses a key that others can read.
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            if let Some((uid, gid)) = pg.owner {
                std::os::unix::fs::chown(&to, Some(uid), Some(gid)).unwrap();
            }
        }
        let conf = pg.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("reading postgresql.conf");
        text.push_str("\nssl = on\n");
        std::fs::write(&conf, text).expect("writing postgresql.conf");
        pg.start_again().await;
        pg
    }

    /// `initdb` in a temporary directory; not started.
    fn init() -> PrivatePg {
        let bin = pg_bin_dir();
        let dir = tempfile::Builder::new().prefix("kpi-e2e-pg-").tempdir().expect("temp dir for PostgreSQL");
        let owner = if unsafe { libc::geteuid() } == 0 { Some(postgres_user()) } else { None };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the cluster dir to postgres");
        }
        let pg = PrivatePg { dir, port: free_port(), bin, owner, child: None, starts: 0 };
        let mut initdb = pg.as_owner(Command::new(pg.bin.join("initdb")));
        initdb.args(["-D", &pg.data().display().to_string(), "-U", "postgres", "--auth=trust", "--no-sync"]);
        let output = initdb.stdin(Stdio::null()).output().expect("running initdb");
        assert!(output.status.success(), "initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        pg
    }

    /// The maintenance database URL, for [`crate::TestDb`] (`KPI_TEST_PG_URL`).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs (for sampling, signalling).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server (SIGINT: PostgreSQL's fast shutdown, which ends every session).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            terminate(&mut child, Duration::from_secs(20)).await;
        }
    }

    /// Starts the server (again) on the same port and data, and waits until it takes logins.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the private PostgreSQL is already running");
        self.starts += 1;
        let log = std::fs::File::create(self.dir.path().join(format!("postgres.{}.log", self.starts))).unwrap();
        let mut command = self.as_owner(Command::new(self.bin.join("postgres")));
        let socket_dir = self.dir.path().display().to_string();
        command
            .args(["-D", &self.data().display().to_string(), "-p", &self.port.to_string(), "-k", &socket_dir])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(spawn_tied(command).expect("starting postgres"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        assert!(wait_for_port(addr, Duration::from_secs(30)).await, "postgres did not listen:\n{}", self.log());
        // Listening comes before accepting logins ("the database system is starting up").
        while sqlx::PgConnection::connect(&self.admin_url()).await.is_err() {
            assert!(Instant::now() < deadline, "postgres did not take logins:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's log of its latest start.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("postgres.{}.log", self.starts))).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_owner(&self, mut command: Command) -> Command {
        use std::os::unix::process::CommandExt as _;
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid).env("HOME", self.dir.path()).current_dir(self.dir.path());
        }
        command
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Immediate shutdown: nothing here needs to survive.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGQUIT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            crate::process::kill(&mut child);
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` (or `KPI_PG_BIN`).
fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("KPI_PG_BIN") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql (scripts/setup.sh installs them)")
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| Path::new(bin).join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().expect("no /usr/lib/postgresql/<version>/bin/initdb").1
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> (u32, u32) {
    let name = std::ffi::CString::new("postgres").unwrap();
    // SAFETY: getpwnam returns a pointer into static storage, read at once.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(!entry.is_null(), "no postgres user to run a private PostgreSQL as (running as root)");
    unsafe { ((*entry).pw_uid, (*entry).pw_gid) }
}
