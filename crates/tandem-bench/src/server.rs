//! Starts the server under test for one run (a fresh process, 127.0.0.1, a free port; Tandem
//! with a fresh data directory) and reads its CPU time and RSS from `/proc/<pid>`. Stopped by PID
//! when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wire::Kind;

pub struct Spawned {
    child: Child,
    /// host:port
    pub addr: String,
    _dir: Option<tempfile::TempDir>,
}

/// Where the binaries and scripts live (the repository root).
pub struct Paths<'a> {
    pub tandem: &'a Path,
    pub peers: &'a Path,
}

impl Spawned {
    pub fn start(kind: Kind, paths: &Paths, extra: &[&str]) -> anyhow::Result<Spawned> {
        Self::start_in(kind, paths, extra, None)
    }

    /// [`Self::start`]; Tandem on the data directory `data` if given (kept when stopped),
    /// otherwise on a fresh one.
    pub fn start_in(
        kind: Kind,
        paths: &Paths,
        extra: &[&str],
        data: Option<&Path>,
    ) -> anyhow::Result<Spawned> {
        let (mut cmd, dir) = match kind {
            Kind::Tandem => {
                let dir = match data {
                    Some(_) => None,
                    None => Some(tempfile::tempdir()?),
                };
                let data_dir = data.unwrap_or_else(|| dir.as_ref().expect("made above").path());
                let mut c = Command::new(paths.tandem);
                // The engine alone: accounts and roles are not what these figures measure
                // (unless the run asks for them).
                if !extra.contains(&"--auth") {
                    c.args(["--auth", "none"]);
                }
                c.args(["--listen", "127.0.0.1:0", "--data-dir"])
                    .arg(data_dir);
                // The benchmark measures throughput, not the abuse limits: every client comes
                // from 127.0.0.1, so the per-address caps (500 sockets, 8 joins at once) would
                // refuse late joiners; the idle run opens more documents than the default 10,000.
                c.args([
                    "--rate-limit-per-sec",
                    "10000000",
                    "--rate-limit-burst",
                    "10000000",
                    "--sockets-per-ip",
                    "1000000",
                    "--joins-per-ip",
                    "100000",
                    "--max-http-connections",
                    "1000000",
                    "--max-open-docs",
                    "1000000",
                ]);
                c.env("RUST_LOG", "warn");
                (c, dir)
            }
            Kind::Relay | Kind::Floor => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("serve-floor");
                let dir = tempfile::tempdir()?;
                if kind == Kind::Floor {
                    c.arg("--durable").arg(dir.path().join("log"));
                }
                (c, Some(dir))
            }
            Kind::YWebsocket | Kind::Hocuspocus => {
                let mut c = Command::new("node");
                c.arg(paths.peers.join(format!("{}.mjs", kind.name())))
                    .env("PORT", "0");
                (c, None)
            }
        };
        cmd.args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let addr = loop {
            let Some(line) = lines.next() else {
                anyhow::bail!("{} exited before listening", kind.name())
            };
            let line = line?;
            if let Some(a) = line.strip_prefix("tandem listening on http://") {
                break a.trim().to_string();
            }
            if let Some(p) = line.strip_prefix("listening on ") {
                break format!("127.0.0.1:{}", p.trim());
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Spawned {
            child,
            addr,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a process.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// Resident set size in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn clock_ticks() -> u64 {
    // USER_HZ is 100 on every Linux this runs on; `getconf CLK_TCK` would say so.
    100
}
