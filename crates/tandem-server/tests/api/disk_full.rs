//! A real full disk: the data directory is a size-limited tmpfs (mounting needs root, which CI
//! and the project's machines have; the test fails with a clear message otherwise). Appends are
//! refused, the client is told why and keeps its unacked edits, nothing acked is lost, the server
//! stays up, and service resumes when space returns.

use std::path::Path;
use std::process::Command;

use crate::helpers::*;

/// A tmpfs of `size` mounted on a fresh temp dir; unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tandem-full"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mounting a tmpfs needs root (CAP_SYS_ADMIN); run the disk-full test as root"
        );
        SmallDisk { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_appends_clearly_loses_nothing_and_recovers() {
    let disk = SmallDisk::mount("3m");
    let mut server = ServerProcess::start(disk.path(), &[]);
    let mut c = Client::connect(server.addr, "full", true).await;
    let chunk = "x".repeat(50 * 1024);
    let mut written = Vec::new();
    // Fill the disk one acked 50 KiB edit at a time until an append is refused.
    while c.closed.is_none() && written.len() < 200 {
        let token = format!("<{}>{chunk}", written.len());
        c.push(&token).await;
        written.push(format!("<{}>", written.len()));
        while c.closed.is_none() && c.acks.len() < c.sent_updates {
            c.recv().await;
        }
    }
    let acked = c.acks.len();
    let (code, reason) = c.closed.clone().expect("the disk never filled up");
    assert_eq!(code, 1011, "{reason}");
    let told = c.errors.last().map(|e| e.1.clone()).unwrap_or_default();
    assert!(
        told.contains("disk is full"),
        "the client is told why: {told:?}"
    );
    assert!(
        acked >= 5 && acked < written.len(),
        "acked {acked} of {}",
        written.len()
    );
    // The server is still up, and the document still reads back everything acked.
    let (status, _, _) = http_get(server.addr, "/healthz").await;
    assert_eq!(status, 200);
    let reader = Client::connect(server.addr, "full", true).await;
    for t in &written[..acked] {
        assert!(
            reader.text().contains(t.as_str()),
            "{t} was acked but is gone"
        );
    }
    // The refused edit is still in the client's document, ready to be resent.
    let unacked = &written[acked];
    assert!(c.text().contains(unacked.as_str()));
    // A reconnect while still full is refused the same way, and keeps the edit.
    let doc = std::mem::replace(&mut c.doc, yrs::Doc::new());
    let doc = match Client::try_connect_with_doc(server.addr, "full", doc).await {
        Ok(_) => panic!("a resend onto a full disk was acked"),
        Err(doc) => doc,
    };
    // Space returns: the same client reconnects, its sync resends the edit, and it is acked.
    disk.resize("64m");
    let back = Client::connect_with_doc(server.addr, "full", true, doc).await;
    assert!(back.text().contains(unacked.as_str()));
    drop(back);
    // After a restart every written edit, the once-refused one included, is on disk.
    server.kill9();
    let server = ServerProcess::start(disk.path(), &[]);
    let text = Client::connect(server.addr, "full", true).await.text();
    for t in &written {
        assert!(text.contains(t.as_str()), "{t} lost");
    }
    eprintln!(
        "disk full: {acked} edits of 50 KiB acked before a 3 MiB tmpfs filled; the refused one \
         was kept by its client and saved once space returned"
    );
}
