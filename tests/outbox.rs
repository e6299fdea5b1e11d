//! The outbox under faults and load: a server killed with SIGKILL between an answer's commit and
//! its confirmation's delivery sends the confirmation after restart; two replicas on one
//! PostgreSQL database send every message once; a thousand requests are delivered once each (the
//! time it takes is printed, not asserted).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::process::start_with_env;
use common::server::{settings, Blobs, Db, TestServer};
use common::smtp::{Received, SmtpSink};
use consentgate::service;
use consentgate::store::MailState;
use serde_json::json;

/// Imports `n` learners under 18 as the admin, each with one guardian `guardian{i}@example.org`
/// and the family name `Family{i}`.
async fn families(server_base: &str, admin: &str, n: usize) {
    let mut csv = String::from("given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n");
    for i in 0..n {
        csv.push_str(&format!("Kid{i},Family{i},2014-01-01,REF{i},Parent {i},guardian{i}@example.org\n"));
    }
    let response = reqwest::Client::new()
        .post(format!("{server_base}/api/v1/learners/import"))
        .bearer_auth(admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn ask(base: &str, admin: &str, learner_ids: &[String]) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/consent-requests"))
        .bearer_auth(admin)
        .json(&json!({"learner_ids": learner_ids, "purposes": ["website", "print"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// Every message in `messages` once, by Message-ID.
fn once_each(messages: &[Received]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for m in messages {
        *seen.entry(m.message_id.clone()).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmation_committed_before_a_kill_is_sent_after_the_restart() {
    let mut sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let args = vec!["--data".to_string(), dir.path().join("data").display().to_string()];
    let env =
        [("CONSENTGATE_SMTP_URL", sink.url()), ("CONSENTGATE_SMTP_FROM", "photos@northfield.example".to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = start_with_env(&args, &env);
    let first_base = server.base.clone();
    let admin = server.admin_token(Duration::from_secs(10)).unwrap();
    let client = reqwest::Client::new();
    let learner: serde_json::Value = client
        .post(format!("{}/api/v1/learners", server.base))
        .bearer_auth(&admin)
        .json(&json!({"given_name": "Ava", "family_name": "Stone", "date_of_birth": "2014-01-01",
            "guardians": [{"name": "Max Stone", "email": "max@example.org"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ask(&server.base, &admin, &[learner["id"].as_str().unwrap().to_string()]).await;
    let request = sink.wait_for(1, Duration::from_secs(20)).remove(0);
    let link = request.link(&server.base, "c");
    // The SMTP server goes away; the answer commits with its confirmation in the outbox.
    sink.stop();
    let response = client
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("website=granted&print=granted&signature=Max+Stone&responsibility=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.child.kill().unwrap(); // SIGKILL, the confirmation undelivered
    server.child.wait().unwrap();
    assert_eq!(sink.messages().len(), 1);
    sink.restart();
    let mut restarted = start_with_env(&args, &env);
    let messages = sink.wait_for(2, Duration::from_secs(60));
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
    assert_eq!(messages.len(), 2, "{messages:?}");
    let confirmation = messages.iter().find(|m| m.subject.contains("Your answer")).expect("the confirmation");
    // Written before the kill, with the address the first start served at.
    assert!(confirmation.body.contains(&format!("{first_base}/w/")), "{}", confirmation.body);
    assert!(once_each(&messages).values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_postgres_send_every_message_once() {
    let sink = SmtpSink::start();
    let smtp = common::smtp::settings(&sink, Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let mut first = settings(Db::Postgres, Blobs::S3, dir.path().join("one")).await;
    first.mail = Some(smtp.clone());
    let mut second = first.clone();
    second.data_dir = dir.path().join("two");
    let server = TestServer::start_with(first, tempfile::tempdir().unwrap()).await;
    // The second replica only sends: it shares the database, the bucket and the outbox.
    second.public_url = server.base.clone();
    let replica = service::prepare(second).await.unwrap();
    tokio::spawn(service::maintain(replica.state.clone(), std::future::pending()));

    let n = 300;
    families(&server.base, &server.admin, n).await;
    let ids: Vec<String> =
        server.store.search_learners("Family", 10_000).await.unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(ids.len(), n);
    ask(&server.base, &server.admin, &ids).await;
    let messages = sink.wait_for(n, Duration::from_secs(120));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let messages_after = sink.messages();
    assert_eq!(messages_after.len(), n, "every message once, none twice: {}", messages.len());
    let seen = once_each(&messages_after);
    assert_eq!(seen.len(), n);
    let addresses: BTreeSet<String> = messages_after.iter().flat_map(|m| vec![m.to_address.clone()]).collect();
    assert_eq!(addresses.len(), n, "each guardian got their own");
    assert_eq!(server.store.outbox(MailState::Sent, 10_000).await.unwrap().len(), n);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_requests_are_delivered_once_each() {
    let sink = SmtpSink::start();
    let smtp = common::smtp::settings(&sink, Duration::from_secs(5));
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| s.mail = Some(smtp)).await;
    let n = 1000;
    families(&server.base, &server.admin, n).await;
    let ids: Vec<String> =
        server.store.search_learners("Family", 10_000).await.unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(ids.len(), n);
    let started = Instant::now();
    ask(&server.base, &server.admin, &ids).await;
    let queued = started.elapsed();
    let messages = sink.wait_for(n, Duration::from_secs(300));
    let delivered = started.elapsed();
    assert_eq!(messages.len(), n);
    assert_eq!(once_each(&messages).len(), n);
    println!(
        "outbox: {n} requests queued in {:.2} s and delivered in {:.2} s ({:.0} messages a minute)",
        queued.as_secs_f64(),
        delivered.as_secs_f64(),
        n as f64 * 60.0 / delivered.as_secs_f64()
    );
}
