//! A private PostgreSQL server for tests that stop and start the database, so the machine's
//! shared server keeps serving every other test.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// A PostgreSQL cluster in a temporary folder, listening on a free loopback port.
pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    _folder: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Creates and starts the cluster. Returns `None` when PostgreSQL's server programs are not
    /// installed.
    pub fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())?;
        let folder = tempfile::tempdir().expect("a temporary folder");
        let data = folder.path().join("data");
        std::fs::create_dir(&data).expect("creating the data folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let server = PrivatePostgres {
            port,
            bin,
            data,
            _folder: folder,
        };

        // PostgreSQL does not run as root, so under root the cluster belongs to `postgres`.
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(server.folder()));
            run(Command::new("chmod").args(["755"]).arg(server.folder()));
        }
        let data = server.data.display().to_string();
        server.as_owner(&[
            "initdb",
            "-D",
            &data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        server.resume();
        Some(server)
    }

    /// Returns the URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once, as a crash or a restart would.
    pub fn halt(&self) {
        let data = self.data.display().to_string();
        self.as_owner(&["pg_ctl", "-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts the server again on the same port.
    pub fn resume(&self) {
        let data = self.data.display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.folder().display()
        );
        let log = self.folder().join("server.log").display().to_string();
        self.as_owner(&[
            "pg_ctl", "-D", &data, "-o", &options, "-l", &log, "-w", "start",
        ]);
    }

    fn folder(&self) -> PathBuf {
        self.data.parent().expect("data has a parent").to_path_buf()
    }

    fn as_owner(&self, command: &[&str]) {
        let mut process = self.owner_command(command[0]);
        process.args(&command[1..]);
        run(&mut process);
    }

    /// Returns a command for one of PostgreSQL's programs, run as `postgres` when under root.
    fn owner_command(&self, name: &str) -> Command {
        let program = self.bin.join(name).display().to_string();
        if !is_root() {
            return Command::new(program);
        }
        let mut process = Command::new("runuser");
        process.args(["-u", "postgres", "--", &program]);
        process
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self
            .owner_command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

/// Returns whether the tests run as root, asking `id` once.
fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

fn run(command: &mut Command) {
    let output = command.output().expect("running a PostgreSQL program");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
