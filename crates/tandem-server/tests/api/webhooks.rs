//! Webhooks against a receiver on 127.0.0.1: deliveries signed, naming durable revision ranges
//! in order with none missing; comments, shares and deletion told; failures retried and, after
//! the give-up window, the webhook turned off with an audit entry and a notice; the test button;
//! who may manage them; and the address checks (private targets, redirects, hangs, endless
//! bodies) bounded in time and memory.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tandem_server::config::Options;

use crate::auth_helpers::*;
use crate::feed::type_end;
use crate::webhook_receiver::*;

const SECRET: &str = "0123456789abcdef-secret";

fn allow_private(o: Options) -> Options {
    Options {
        webhook_allow_private: Some(true),
        ..o
    }
}

async fn register(a: &Account, doc: &str, url: &str, events: &[&str]) -> Value {
    let r = a
        .call(
            "POST",
            &format!("/api/docs/{doc}/webhooks"),
            Some(json!({ "url": url, "events": events, "secret": SECRET })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(
        r.json["secret"], SECRET,
        "the secret is shown once, on creation"
    );
    r.json
}

#[tokio::test]
async fn deliveries_are_signed_ordered_and_name_every_durable_revision() {
    let app = spawn_auth_app_with(allow_private).await;
    let rx = Receiver::start(Mode::Ok).await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = ann.new_doc("Hooked").await;
    let hook = register(
        &ann,
        &doc,
        &rx.url(),
        &["changed", "comment", "share", "deleted"],
    )
    .await;

    let mut c = ann.connect(&doc).await;
    for word in ["one ", "two ", "three ", "four ", "five "] {
        type_end(&mut c, word).await;
    }
    let (first, head) = (c.acks[0], *c.acks.last().unwrap());
    let got = rx
        .wait_for(10, |got| covers(&answered_ranges(got), first, head))
        .await;
    let ranges = answered_ranges(&got);
    // From the first commit after it was registered: in order, no gap, nothing twice (the
    // receiver answered every one).
    let mut next = first;
    for (from, to) in &ranges {
        assert_eq!(*from, next, "ranges {ranges:?}");
        assert!(to >= from);
        next = to + 1;
    }
    for r in &got {
        assert!(signature_valid(SECRET, r), "signed: {:?}", r.headers);
        assert!(!signature_valid("another secret of 16+", r));
        assert_eq!(r.headers["tandem-event"], r.json["event"].as_str().unwrap());
        assert_eq!(r.headers["tandem-delivery"], r.json["id"].as_str().unwrap());
        assert_eq!(r.json["doc"], doc.as_str());
        assert_eq!(r.json["webhook"], hook["id"]);
    }

    // A comment, a share and the deletion, each told once with its details.
    let r = ann
        .call(
            "POST",
            &format!("/api/docs/{doc}/comments"),
            Some(json!({"body": "Look here"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    ann.share(&doc, &bob.email, "editor").await;
    let r = ann.call("DELETE", &format!("/api/docs/{doc}"), None).await;
    assert_eq!(r.status, 204, "{}", r.json);
    let got = rx
        .wait_for(10, |got| got.iter().any(|r| r.json["event"] == "deleted"))
        .await;
    let events: Vec<&Value> = got
        .iter()
        .map(|r| &r.json["event"])
        .filter(|e| *e != "changed")
        .collect();
    assert_eq!(
        events,
        ["comment", "share", "deleted"],
        "in the order they happened"
    );
    let comment = got.iter().find(|r| r.json["event"] == "comment").unwrap();
    assert_eq!(comment.json["data"]["body"], "Look here");
    let share = got.iter().find(|r| r.json["event"] == "share").unwrap();
    assert_eq!(share.json["data"]["user"].as_i64(), Some(bob.id));
    assert_eq!(share.json["data"]["role"], "editor");
    for r in &got {
        assert!(signature_valid(SECRET, r));
    }
}

#[tokio::test]
async fn failures_are_retried_with_back_off_and_logged() {
    let app = spawn_auth_app_with(allow_private).await;
    let rx = Receiver::start(Mode::FailNext(2)).await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("Flaky").await;
    let hook = register(&ann, &doc, &rx.url(), &["changed"]).await;
    let id = hook["id"].as_str().unwrap();
    let mut c = ann.connect(&doc).await;
    type_end(&mut c, "hello").await;
    let (first, head) = (c.acks[0], *c.acks.last().unwrap());
    let got = rx
        .wait_for(15, |got| covers(&answered_ranges(got), first, head))
        .await;
    let attempts: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(
        &attempts[..3],
        [500, 500, 200],
        "two failures, then the same delivery again"
    );
    assert_eq!(
        got[0].json["id"], got[1].json["id"],
        "a retry is the same delivery"
    );
    assert_eq!(got[1].json["attempt"], 2);

    // The log, newest first: the success, then both failures with their status and error.
    let log = ann
        .wait_json(&format!("/api/webhooks/{id}/deliveries"), |l| {
            l.as_array().is_some_and(|l| l.len() >= 3)
        })
        .await;
    let log = log.as_array().unwrap();
    assert_eq!(log[0]["ok"], true);
    assert_eq!(log[1]["ok"], false);
    assert_eq!(log[1]["status"], 500);
    assert!(
        log[1]["error"].as_str().unwrap().contains("broken"),
        "{}",
        log[1]
    );
    let hooks = ann
        .call("GET", &format!("/api/docs/{doc}/webhooks"), None)
        .await;
    assert_eq!(
        hooks.json[0]["failing_since"],
        Value::Null,
        "a success ends the failures"
    );
    assert!(
        hooks.json[0].get("secret").is_none(),
        "the secret is never listed"
    );
}

#[tokio::test]
async fn a_webhook_failing_past_the_give_up_window_is_turned_off_audited_and_its_owner_told() {
    let app = spawn_auth_app_with(|o| Options {
        webhook_give_up_secs: Some(2),
        ..allow_private(o)
    })
    .await;
    let rx = Receiver::start(Mode::Fail).await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("Dead end").await;
    let hook = register(&ann, &doc, &rx.url(), &["changed"]).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    let mut c = ann.connect(&doc).await;
    type_end(&mut c, "x").await;
    let list = ann
        .wait_json(&format!("/api/docs/{doc}/webhooks"), |l| {
            l[0]["enabled"] == false
        })
        .await;
    assert!(!list[0]["disabled_reason"].as_str().unwrap().is_empty());
    assert_eq!(list[0]["pending"], 0, "its queue is dropped");
    assert!(rx.received().len() >= 2, "it was retried before giving up");

    let audit = ann.call("GET", "/api/admin/audit", None).await;
    let entry = audit
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "webhook_disabled");
    assert!(
        entry.is_some_and(|e| e["detail"].as_str().unwrap().contains(&id)),
        "{}",
        audit.json
    );
    let bell = ann
        .wait_json("/api/notifications", |n| {
            n["notifications"]
                .as_array()
                .is_some_and(|l| l.iter().any(|n| n["kind"] == "webhook"))
        })
        .await;
    let notice = bell["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "webhook")
        .unwrap();
    assert!(
        notice["text"].as_str().unwrap().contains("turned off"),
        "{notice}"
    );

    // Nothing more is sent while it is off; turned on again, the next change is delivered.
    let before = rx.received().len();
    type_end(&mut c, "y").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().len(), before);
    rx.set(Mode::Ok);
    let r = ann
        .call(
            "PATCH",
            &format!("/api/webhooks/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["enabled"], true);
    type_end(&mut c, "z").await;
    let head = *c.acks.last().unwrap();
    rx.wait_for(10, |got| {
        answered_ranges(got).iter().any(|(_, to)| *to == head)
    })
    .await;
}

#[tokio::test]
async fn the_test_button_sends_a_signed_ping_and_only_owners_and_administrators_manage_webhooks() {
    let app = spawn_auth_app_with(allow_private).await;
    let rx = Receiver::start(Mode::Ok).await;
    let admin = Account::signup(app.addr, "admin@example.org").await; // the first account
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = ann.new_doc("Owned").await;
    ann.share(&doc, &bob.email, "editor").await;
    let hook = register(&ann, &doc, &rx.url(), &["changed"]).await;
    let id = hook["id"].as_str().unwrap();

    let r = ann
        .call("POST", &format!("/api/webhooks/{id}/test"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        (r.json["ok"].as_bool(), r.json["status"].as_u64()),
        (Some(true), Some(200))
    );
    let got = rx
        .wait_for(5, |g| g.iter().any(|r| r.json["event"] == "ping"))
        .await;
    assert!(signature_valid(SECRET, got.last().unwrap()));
    let log = ann
        .call("GET", &format!("/api/webhooks/{id}/deliveries"), None)
        .await;
    assert_eq!(log.json[0]["event"], "ping");

    // An editor is refused, a stranger does not see it; nobody but admins goes server-wide.
    let r = bob
        .call("GET", &format!("/api/docs/{doc}/webhooks"), None)
        .await;
    assert_eq!(r.status, 403);
    for (method, path) in [
        ("POST", format!("/api/webhooks/{id}/test")),
        ("GET", format!("/api/webhooks/{id}/deliveries")),
        ("DELETE", format!("/api/webhooks/{id}")),
    ] {
        assert_eq!(
            bob.call(method, &path, None).await.status,
            403,
            "{method} {path}"
        );
    }
    let body = json!({"url": rx.url(), "events": ["changed"]});
    assert_eq!(
        ann.call("POST", "/api/webhooks", Some(body.clone()))
            .await
            .status,
        403
    );
    let r = admin.call("POST", "/api/webhooks", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert!(
        r.json["secret"].as_str().unwrap().starts_with("whsec_"),
        "made when not given"
    );
    let global = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ann.call("DELETE", &format!("/api/webhooks/{global}"), None)
            .await
            .status,
        404
    );
    // Server-wide: every document's commits.
    let other = bob.new_doc("Bob's").await;
    let mut c = bob.connect(&other).await;
    type_end(&mut c, "hi").await;
    rx.wait_for(10, |g| {
        g.iter()
            .any(|r| r.json["doc"] == other.as_str() && r.json["webhook"] == global.as_str())
    })
    .await;

    // Bad registrations: a clear 400 each.
    for bad in [
        json!({"url": "not a url", "events": ["changed"]}),
        json!({"url": "ftp://example.org/x", "events": ["changed"]}),
        json!({"url": rx.url(), "events": []}),
        json!({"url": rx.url(), "events": ["typed"]}),
        json!({"url": rx.url(), "events": ["changed"], "secret": "short"}),
    ] {
        let r = ann
            .call(
                "POST",
                &format!("/api/docs/{doc}/webhooks"),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.json);
        assert!(!r.json["error"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        ann.call("DELETE", &format!("/api/webhooks/{id}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        ann.call("GET", &format!("/api/webhooks/{id}/deliveries"), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let app = spawn_auth_app().await; // no --webhook-allow-private
    let rx = Receiver::start(Mode::Ok).await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let doc = ann.new_doc("Careful").await;
    let port = rx.addr.port();
    for url in [
        rx.url(),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/".to_owned(),
        format!("http://0.0.0.0:{port}/"),
    ] {
        let body = json!({"url": url, "events": ["changed"]});
        let r = ann
            .call("POST", &format!("/api/docs/{doc}/webhooks"), Some(body))
            .await;
        assert_eq!(r.status, 400, "{url}: {}", r.json);
        assert!(
            r.json["error"]
                .as_str()
                .unwrap()
                .contains("not a public address"),
            "{}",
            r.json
        );
    }
    assert!(rx.received().is_empty());
}

/// The client every delivery uses, bounded: redirects re-checked, hangs cut at the timeout, an
/// endless body read no further than a kilobyte. The receiver's own address is exempt here, so
/// the redirect it sends is what the check has to catch.
#[tokio::test]
async fn redirects_hangs_and_endless_bodies_are_bounded() {
    use tandem_server::webhooks::{client, post, Guard, Outgoing};
    let rx = Receiver::start(Mode::Ok).await;
    let guard = Guard::exempting(rx.addr);
    let http = client(&guard, Duration::from_secs(2));
    let hook = tandem_store::webhooks::Webhook {
        id: "h".into(),
        doc: Some("d".into()),
        owner_id: 1,
        url: rx.url(),
        secret: SECRET.into(),
        events: vec![],
        enabled: true,
        failing_since: None,
        disabled_reason: String::new(),
        created_at: 0,
    };
    let send = || post(&http, &guard, &hook, Outgoing::ping(&hook));
    assert!(send().await.ok, "the exempt receiver is reached");

    let other = Receiver::start(Mode::Ok).await;
    for to in [
        format!("http://127.0.0.2:{}/", other.addr.port()),
        format!("http://localhost:{}/", other.addr.port()),
        format!("http://{}/", other.addr),
    ] {
        rx.set(Mode::Redirect(to.clone()));
        let a = send().await;
        assert!(!a.ok, "redirect to {to} followed");
        assert!(
            a.error.contains("not a public address"),
            "{to}: {}",
            a.error
        );
    }
    assert!(
        other.received().is_empty(),
        "nothing reached the redirect's target"
    );

    rx.set(Mode::Hang);
    let started = Instant::now();
    let a = send().await;
    assert!(!a.ok);
    assert!(a.error.contains("timed out"), "{}", a.error);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    rx.set(Mode::Endless);
    let started = Instant::now();
    let a = send().await;
    assert!(!a.ok);
    assert_eq!(a.status, Some(500));
    assert!(
        a.error.len() < 400,
        "at most a snippet is kept: {}",
        a.error.len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// Crash loop: each round commits an edit and SIGKILLs the server while the receiver is
/// holding the delivery (or just after it answered); after every restart the outbox is still
/// there. At the end every acked revision has reached the receiver. `TANDEM_CRASH_ROUNDS`
/// sets the rounds (20 by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_killed_between_commit_and_send_goes_out_after_restart() {
    use crate::crash_support::rounds;
    use crate::helpers::ServerProcess;
    use rand::Rng;
    let rounds = rounds("TANDEM_CRASH_ROUNDS", 20);
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Mode::Hang).await;
    let args = ["--auth", "accounts", "--webhook-allow-private"];
    let mut doc = String::new();
    let (mut first, mut head) = (0, 0);
    let mut held = 0;
    for round in 0..rounds {
        let mut server = ServerProcess::start(dir.path(), &args);
        let ann = if round == 0 {
            let ann = Account::signup(server.addr, "ann@example.org").await;
            doc = ann.new_doc("Crashing").await;
            register(&ann, &doc, &rx.url(), &["changed"]).await;
            ann
        } else {
            Account::login(server.addr, "ann@example.org").await
        };
        // Mostly the receiver holds the request, so the kill lands between the commit and
        // the end of its delivery; sometimes it answers, and the kill lands after.
        let hang = rand::rng().random_bool(0.75);
        rx.set(if hang { Mode::Hang } else { Mode::Ok });
        held += usize::from(hang);
        let mut c = ann.connect(&doc).await;
        type_end(&mut c, &format!("r{round} ")).await;
        head = *c.acks.last().unwrap();
        if round == 0 {
            first = head;
        }
        let delay = rand::rng().random_range(0..150);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill9();
    }
    rx.set(Mode::Ok);
    let _server = ServerProcess::start(dir.path(), &args);
    let got = rx
        .wait_for(20, |got| covers(&answered_ranges(got), first, head))
        .await;
    eprintln!(
        "webhook crash loop: {rounds} SIGKILL rounds ({held} with the delivery held), {} requests, revisions {first}..={head} all delivered",
        got.len()
    );
}
