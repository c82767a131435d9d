//! Test harness for encrypted links (services ↔ broker, services ↔ warehouse): a throw-away
//! certificate authority made with the `openssl` command line, and a TLS front for a plaintext
//! broker made with `socat`, as a TLS listener or a TLS-terminating proxy would be in a trust.
//!
//! Both tools come from Debian (`scripts/setup.sh` installs them). Keys are EC P-256, so that
//! making them takes milliseconds; certificates name `127.0.0.1` and `localhost`, so a client
//! that verifies the host name (librdkafka's default, PostgreSQL's `verify-full`) accepts them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::spawn_tied;
use crate::{free_port, wait_for_port};

/// A certificate authority in a directory: `ca.pem` (certificate) and `ca.key`.
pub struct TestCa {
    dir: PathBuf,
}

/// A certificate issued by a [`TestCa`], as PEM files.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// Makes a new authority in `dir`, named `name` (so two in one directory do not clash).
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let ca = TestCa { dir: dir.join(name) };
        std::fs::create_dir_all(&ca.dir).expect("creating the CA directory");
        openssl(
            &ca.dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                &format!("/CN=kpi test CA {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        ca
    }

    /// The authority's certificate, for `ssl.ca.location` or `sslrootcert`.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Issues a server certificate for `127.0.0.1` and `localhost`.
    pub fn issue_server(&self, name: &str) -> Issued {
        let (key, csr, cert) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=localhost",
            ],
        );
        let extensions = self.dir.join(format!("{name}.ext"));
        std::fs::write(
            &extensions,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
        .expect("writing the extensions file");
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                extensions.to_str().expect("utf-8 path"),
            ],
        );
        Issued { cert: self.dir.join(cert), key: self.dir.join(key) }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running openssl (scripts/setup.sh installs it)");
    assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// `socat` accepting TLS on a free loopback port and forwarding each connection in clear to
/// `target`. Killed on drop.
pub struct TlsFront {
    child: Child,
    port: u16,
}

impl TlsFront {
    /// Starts on `port` (0 for a free one) and waits until it listens.
    pub async fn start(port: u16, server: &Issued, target: SocketAddr) -> TlsFront {
        let port = if port == 0 { free_port() } else { port };
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            server.cert.display(),
            server.key.display()
        );
        let mut command = Command::new("socat");
        // Its complaints about refused handshakes are expected in tests that provoke them.
        command
            .args([listen, format!("TCP:{target}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_tied(command).expect("starting socat (scripts/setup.sh installs it)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(wait_for_port(addr, Duration::from_secs(10)).await, "socat did not listen on {addr}");
        TlsFront { child, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        crate::process::kill(&mut self.child);
    }
}
