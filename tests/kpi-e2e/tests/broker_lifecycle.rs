//! Test harness checks of the real broker's process lifecycle: stop, kill on drop, and no
//! orphaned broker when the test process itself is killed.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kpi_e2e::Broker;

fn alive(pid: u32) -> bool {
    // A zombie (state Z) is dead for our purpose: it holds no port and no memory.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn gone_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !alive(pid)
}

#[tokio::test]
async fn stop_terminates_and_drop_kills() {
    let mut broker = Broker::start_memory().await;
    let pid = broker.pid().unwrap();
    assert!(broker.is_running());
    let t = Instant::now();
    broker.stop().await;
    eprintln!("kpi-e2e timing: SIGTERM stop {:?}", t.elapsed());
    assert!(!broker.is_running());
    assert!(gone_within(pid, Duration::from_secs(1)).await);

    broker.restart().await;
    let pid = broker.pid().unwrap();
    drop(broker);
    assert!(gone_within(pid, Duration::from_secs(5)).await, "broker {pid} survived drop");
}

#[test]
fn a_broker_outlives_the_thread_that_started_it() {
    // Started on a short-lived thread with its own runtime (the parent-death signal must not be
    // tied to that thread).
    let broker =
        std::thread::spawn(|| tokio::runtime::Runtime::new().unwrap().block_on(Broker::start_memory())).join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut broker = broker;
        assert!(broker.is_running(), "broker died with its starting thread");
        broker.create_topic("still_here", 1).await;
    });
}

/// Run by `no_orphan_broker_when_the_test_process_is_killed` in a child process.
#[tokio::test]
#[ignore = "helper: runs only as a child of no_orphan_broker_when_the_test_process_is_killed"]
async fn helper_holds_a_broker_until_killed() {
    if std::env::var_os("KPI_E2E_ORPHAN_CHILD").is_none() {
        return;
    }
    let broker = Broker::start_memory().await;
    println!("BROKER_LOG_DIR {}", broker.log_path().parent().unwrap().display());
    println!("BROKER_PID {}", broker.pid().unwrap());
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test]
async fn no_orphan_broker_when_the_test_process_is_killed() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["helper_holds_a_broker_until_killed", "--exact", "--ignored", "--nocapture"])
        .env("KPI_E2E_ORPHAN_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (log_dir, pid) = tokio::task::spawn_blocking(move || {
        let mut log_dir = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(dir) = line.strip_prefix("BROKER_LOG_DIR ") {
                log_dir = Some(dir.trim().to_owned());
            }
            if let Some(pid) = line.strip_prefix("BROKER_PID ") {
                return (log_dir, Some(pid.trim().parse::<u32>().unwrap()));
            }
        }
        (log_dir, None)
    })
    .await
    .unwrap();
    let Some(pid) = pid else {
        let _ = child.kill();
        panic!("child test process did not report a broker");
    };
    assert!(alive(pid));
    child.kill().unwrap(); // SIGKILL: no destructor runs in the child
    child.wait().unwrap();
    assert!(gone_within(pid, Duration::from_secs(5)).await, "broker {pid} orphaned");
    // The killed child could not remove its temporary log directory.
    if let Some(dir) = log_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}
