//! PostgreSQL over TLS against a private instance this test starts (`initdb` and `postgres`
//! from `pg_config --bindir`, as the `postgres` user when run as root) with a certificate from a
//! CA the test makes with `openssl`, and `pg_hba.conf` refusing every connection without TLS.
//! The store connects with `sslmode=verify-full&sslrootcert=…`; with another CA it is refused
//! with a certificate error; without `sslmode` it is refused by the server.

mod support {
    pub mod certs;
}

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use bytes::Bytes;
use support::certs::{make_certs, run};
use tandem_core::store::{Append, AppendStatus, Catalogue, OpLog};
use tandem_store::{PostgresConfig, PostgresStore};

/// `program args…`, as the `postgres` user when this process is root (initdb refuses root).
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    match root {
        true => {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        }
        false => Command::new(program),
    }
}

struct PrivatePostgres {
    child: Child,
    port: u16,
    pg_ctl: std::path::PathBuf,
    data: std::path::PathBuf,
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // `runuser` forks: stop the server itself, then reap the wrapper.
        let _ = as_postgres(&self.pg_ctl)
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tls_postgres(dir: &Path) -> PrivatePostgres {
    let bin = String::from_utf8(
        Command::new("pg_config")
            .arg("--bindir")
            .output()
            .expect("pg_config")
            .stdout,
    )
    .unwrap();
    let bin = Path::new(bin.trim());
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    run(Command::new("chmod").args(["-R", "a+rwx"]).arg(dir));
    if as_postgres(Path::new("true")).get_program() == "runuser" {
        run(Command::new("chown").args(["-R", "postgres"]).arg(dir));
    }
    run(as_postgres(&bin.join("initdb"))
        .args(["-A", "trust", "-U", "postgres", "-D"])
        .arg(&data));
    run(Command::new("chmod").arg("600").arg(dir.join("server.key")));
    std::fs::write(
        data.join("pg_hba.conf"),
        "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = as_postgres(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "ssl=on"])
        .arg("-c")
        .arg(format!(
            "ssl_cert_file={}",
            dir.join("server.pem").display()
        ))
        .arg("-c")
        .arg(format!("ssl_key_file={}", dir.join("server.key").display()))
        .spawn()
        .expect("postgres");
    PrivatePostgres {
        child,
        port,
        pg_ctl: bin.join("pg_ctl"),
        data,
    }
}

async fn connect(url: String) -> Result<PostgresStore, String> {
    PostgresStore::connect(&PostgresConfig {
        url,
        schema: None,
        pool_size: 2,
        timeout: Duration::from_secs(5),
    })
    .await
    .map_err(|e| e.to_string())
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), "ca");
    let other = tempfile::tempdir().unwrap();
    make_certs(other.path(), "other");
    let pg = start_tls_postgres(dir.path());
    let base = format!("postgres://postgres@localhost:{}/postgres", pg.port);
    let ca = dir.path().join("ca.pem");
    let tls = format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display());
    // The server takes a moment to start.
    let mut store = Err(String::new());
    for _ in 0..100 {
        store = connect(tls.clone()).await;
        if store.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = store.expect("connects over TLS");
    store.create_doc("d", "").await.unwrap();
    let append = Append {
        doc: "d".into(),
        rev: 1,
        data: Bytes::from_static(b"x"),
        author: None,
    };
    assert_eq!(
        store.append(&[append]).await.unwrap(),
        vec![AppendStatus::Ok]
    );
    assert_eq!(store.load("d").await.unwrap().head(), 1);
    // A certificate from a CA we were not told to trust: refused.
    let wrong = other.path().join("other.pem");
    let refused = connect(format!(
        "{base}?sslmode=require&sslrootcert={}",
        wrong.display()
    ))
    .await
    .err()
    .expect("a server certificate from another CA was accepted");
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
    // Without TLS the server refuses us (so the success above was over TLS).
    let plain = connect(base).await.err().expect("connected without TLS");
    assert!(
        plain.contains("no encryption") || plain.contains("pg_hba"),
        "{plain}"
    );
}
