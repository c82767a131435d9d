//! Test harness for the real broker: child processes that die with the test process.
//!
//! A broker must not outlive its test, even when the test binary is killed (a CI timeout, a
//! `kill -9`) and no destructor runs. On Linux each child asks the kernel for SIGKILL when its
//! parent goes (`PR_SET_PDEATHSIG`). The kernel ties that to the *thread* that spawned the
//! child, so every spawn happens on one harness thread that lives as long as the process; a
//! broker therefore never dies because the test thread or Tokio worker that started it ended.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

type Request = (Command, mpsc::Sender<io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();

/// Spawns `command` from the harness's long-lived spawner thread, with the parent-death signal
/// set on Linux.
pub fn spawn_tied(mut command: Command) -> io::Result<Child> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt as _;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid, raise) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::raise(libc::SIGKILL);
                }
                Ok(())
            });
        }
    }
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("kpi-e2e-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the kpi-e2e spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("kpi-e2e spawner thread is gone"))?;
    reply_rx.recv().map_err(|_| io::Error::other("kpi-e2e spawner thread dropped the request"))?
}

/// Sends SIGTERM, waits up to `grace` for the exit, then SIGKILLs. Reaps the child.
pub async fn terminate(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: kill(2) on our own child, which has not been reaped (try_wait said it runs).
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(child);
}

/// SIGKILL and reap (synchronous: a killed process is reaped at once).
pub fn kill(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The exit status, if the child has exited.
pub fn exited(child: &mut Child) -> Option<ExitStatus> {
    child.try_wait().ok().flatten()
}
