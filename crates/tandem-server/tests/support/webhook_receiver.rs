//! A webhook receiver on 127.0.0.1 for the tests: records every request it answers, checks
//! nothing itself, and behaves as told (answer, fail, hang, redirect, stream an endless body).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
#[allow(dead_code)]
pub enum Mode {
    Ok,
    Fail,
    /// Fail this many more requests, then answer.
    FailNext(usize),
    /// Never answer.
    Hang,
    Redirect(String),
    /// A 500 whose body never ends.
    Endless,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub json: Value,
    /// What the receiver answered (after recording).
    pub answered: u16,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn handle(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let mode = {
        let mut m = r.mode.lock().unwrap();
        let now = m.clone();
        if let Mode::FailNext(n) = *m {
            *m = if n <= 1 {
                Mode::Ok
            } else {
                Mode::FailNext(n - 1)
            };
        }
        now
    };
    let answered = match &mode {
        Mode::Ok => 200,
        Mode::Fail | Mode::FailNext(_) | Mode::Endless => 500,
        Mode::Hang => 0,
        Mode::Redirect(_) => 302,
    };
    r.got.lock().unwrap().push(Received {
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
        body: body.to_vec(),
        answered,
    });
    match mode {
        Mode::Ok => StatusCode::OK.into_response(),
        Mode::Fail | Mode::FailNext(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "broken").into_response()
        }
        // Never answers: the sender's request timeout is what ends it.
        Mode::Hang => std::future::pending().await,
        Mode::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Mode::Endless => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream =
                futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(stream)).into_response()
        }
    }
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(Mutex::new(mode)),
            got: Arc::default(),
        };
        let app = axum::Router::new().fallback(handle).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    #[allow(dead_code)] // the cluster tests keep one mode
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to `secs`) until `f` holds for what was received.
    pub async fn wait_for(&self, secs: u64, f: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received();
            if f(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "webhook receiver: condition not met in {secs} s; received {:#?}",
                got.iter()
                    .map(|r| (&r.json, r.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Checks a delivery's `tandem-signature` the way a receiver should: HMAC-SHA256 of
/// "<t>.<body>" under the secret, compared in constant time.
pub fn signature_valid(secret: &str, r: &Received) -> bool {
    let Some(sig) = r
        .headers
        .get("tandem-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in sig.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_owned()),
            Some(("v1", x)) => v1 = Some(x.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(expected) = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(v1.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    mac.verify_slice(&expected).is_ok()
}

/// The revision ranges of answered `changed` deliveries, in arrival order.
pub fn answered_ranges(got: &[Received]) -> Vec<(u64, u64)> {
    got.iter()
        .filter(|r| r.answered == 200 && r.json["event"] == "changed")
        .map(|r| {
            (
                r.json["from_rev"].as_u64().unwrap(),
                r.json["to_rev"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Whether `ranges` cover first..=head.
pub fn covers(ranges: &[(u64, u64)], first: u64, head: u64) -> bool {
    (first..=head).all(|rev| ranges.iter().any(|(a, b)| (*a..=*b).contains(&rev)))
}
