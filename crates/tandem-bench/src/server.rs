//! Spawns a tandem binary for one run (fresh data directory, free port) and reads its CPU time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Spawned {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Spawned {
    pub fn start(bin: &str) -> anyhow::Result<Spawned> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            // The bench measures throughput, not the abuse limits.
            .args(["--rate-limit-per-sec", "10000000", "--rate-limit-burst", "10000000"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let addr = loop {
            let Some(line) = lines.next() else { anyhow::bail!("{bin} exited before listening") };
            if let Some(a) = line?.strip_prefix("tandem listening on http://") {
                break a.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Spawned { child, url: format!("ws://{addr}"), _dir: dir })
    }

    /// utime + stime of the server process, from /proc/<pid>/stat.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_secs_f64(ticks as f64 / 100.0))
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
