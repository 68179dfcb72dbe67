//! The Prism mock server (`prism mock`) on a loopback port, serving a real API description and
//! validating each request against it.
//!
//! Prism is installed by `scripts/install-prism` into `.tools/prism`; `TRELLIS_PRISM` names
//! another binary. Without it, [`Prism::start`] returns `None` so the test can skip with a
//! message, except in CI (`CI` set), where it fails.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Prism mock server, stopped when dropped.
pub struct Prism {
    child: Child,
    pub port: u16,
}

impl Prism {
    /// Starts `prism mock` for a specification, or returns `None` when Prism is not installed
    /// and this is not CI.
    pub fn start(spec: &Path) -> Option<Prism> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let binary = std::env::var_os("TRELLIS_PRISM")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".tools/prism/node_modules/.bin/prism"));
        if !binary.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "Prism is not installed at {}; run scripts/install-prism",
                binary.display()
            );
            eprintln!(
                "skipping: Prism is not installed at {}; run scripts/install-prism",
                binary.display()
            );
            return None;
        }
        let port = free_port();
        let child = Command::new(&binary)
            .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(spec)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
        let mut prism = Prism { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = prism.child.try_wait() {
                panic!("Prism exited before listening: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "Prism did not listen on port {port} within 90 seconds"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(prism)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns a loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
