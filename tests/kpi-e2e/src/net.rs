//! Test harness helpers for the real broker/database: free loopback ports, unique names, port waits.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use rand::Rng;

/// A loopback TCP port that was free a moment ago: bound to port 0, read back, released.
///
/// Another process could take it before the caller binds it; callers that spawn a server on it
/// should treat a failure to start as a possible collision (the [`crate::Broker`] retries).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local_addr of a bound listener").port()
}

/// `prefix` followed by `_` and 12 random lowercase hex digits: a topic, group or database name
/// that no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    let n: u64 = rand::thread_rng().gen();
    format!("{prefix}_{:012x}", n & 0xffff_ffff_ffff)
}

/// Waits until a TCP connection to `addr` succeeds, or `timeout` passes. Returns whether it did.
pub async fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let attempt = tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(addr)).await;
        if let Ok(Ok(_stream)) = attempt {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
