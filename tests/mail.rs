//! The SMTP adapter against a real SMTP server (aiosmtpd on loopback): what arrives, how failures
//! are classified, and many messages at once.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::smtp::{base64, decode_words, quoted_printable, unquote, HangingSmtp, SmtpSink};
use consentgate::config::SmtpSettings;
use consentgate::mail::{Mail, Mailer, SendError};
use futures::StreamExt;

const FROM: &str = "Northfield College <office@college.example.org>";

fn mailer(url: &str, timeout: Duration) -> Mailer {
    Mailer::new(&SmtpSettings::new(url, FROM, timeout).unwrap()).unwrap()
}

fn mail(id: &str, to_address: &str) -> Mail {
    Mail {
        id: id.into(),
        to_name: "Jo Parent".into(),
        to_address: to_address.into(),
        subject: "Photo consent".into(),
        body: "Please answer.\n".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_arrives_whole() {
    let sink = SmtpSink::start();
    let mailer = mailer(&sink.url(), Duration::from_secs(10));
    let link = format!(
        "https://consent.northfield.example.org/requests/answer?token={}&purpose=social_media",
        "Ab9_".repeat(60)
    );
    let body = format!(
        "Dear family of Zoë Ångström,\n\nPlease tell us which uses of photos you agree to:\n{link}\n\n\
         .\n.a line that starts with a dot\nДякуємо · 谢谢 · شكرا\n\n— The office\n"
    );
    let sent = Mail {
        id: "0192f0c4-7d1e-7a3b-9c55-1f2e3d4c5b6a".into(),
        to_name: "Smith-Ångström, \"Jo\"".into(),
        to_address: "jo.parent@example.net".into(),
        subject: "Photo consent for Zoë: please answer by 30 June".into(),
        body: body.clone(),
    };
    mailer.send(&sent).await.unwrap();
    let received = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(got.message_id, "<0192f0c4-7d1e-7a3b-9c55-1f2e3d4c5b6a@college.example.org>");
    assert_eq!(got.message_id, mailer.message_id(&sent.id));
    assert_eq!(got.subject, sent.subject);
    assert_eq!((got.to_name.as_str(), got.to_address.as_str()), ("Smith-Ångström, \"Jo\"", "jo.parent@example.net"));
    assert_eq!(got.envelope_to, ["jo.parent@example.net"]);
    assert_eq!(got.envelope_from, "office@college.example.org");
    assert!(
        got.from.contains("Northfield College") && got.from.contains("<office@college.example.org>"),
        "{}",
        got.from
    );
    assert_eq!(got.header("Auto-Submitted"), Some("auto-generated"));
    assert!(got.header("Content-Type").unwrap().starts_with("text/plain; charset=utf-8"), "{:?}", got.headers);
    assert!(got.header("Date").is_some());
    assert_eq!(got.body, body, "the body arrives as written, the long link and the dotted lines intact");
    assert!(got.body.contains(&link));
    println!("body sent as {:?}", got.header("Content-Transfer-Encoding"));
    // The wire form is plain ASCII: no server needs 8BITMIME or SMTPUTF8 for it.
    assert!(got.raw.is_ascii(), "{}", got.raw);

    // A body in another script, and one with no final line break, end the same way.
    let other = "Шановні батьки!\n\nПросимо відповісти: 请回答。\n".to_string();
    mailer.send(&Mail { id: "other-1".into(), body: other.clone(), ..sent.clone() }).await.unwrap();
    mailer.send(&Mail { id: "other-2".into(), body: "No line break".into(), ..sent.clone() }).await.unwrap();
    let received = sink.wait_for(3, Duration::from_secs(5));
    assert_eq!(received[1].body, other);
    assert_eq!(received[1].header("Content-Transfer-Encoding"), Some("quoted-printable"));
    assert_eq!(received[2].body, "No line break\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_with_commas_quotes_and_other_scripts_arrive_as_given() {
    let sink = SmtpSink::start();
    let mailer = mailer(&sink.url(), Duration::from_secs(10));
    let names = [
        "O'Brien, Siobhán",
        "\"Quoted\" Name",
        "Back\\slash <not an address>",
        "Олена Коваленко",
        "李小龙",
        "Ngozi  Okafor-Adébáyọ̀",
        "",
    ];
    for (i, name) in names.iter().enumerate() {
        let mail = Mail { to_name: name.to_string(), ..mail(&format!("name-{i}"), &format!("p{i}@example.net")) };
        mailer.send(&mail).await.unwrap();
    }
    let received = sink.wait_for(names.len(), Duration::from_secs(5));
    let got: Vec<(&str, &str)> = received.iter().map(|m| (m.to_name.as_str(), m.to_address.as_str())).collect();
    let want: Vec<(String, String)> =
        names.iter().enumerate().map(|(i, n)| (n.to_string(), format!("p{i}@example.net"))).collect();
    let want: Vec<(&str, &str)> = want.iter().map(|(n, a)| (n.as_str(), a.as_str())).collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_recipient_is_permanent_and_a_busy_one_temporary() {
    let sink = SmtpSink::start();
    let mailer = mailer(&sink.url(), Duration::from_secs(10));
    match mailer.send(&mail("r-1", "please-reject-me@example.net")).await {
        Err(SendError::Permanent(why)) => assert!(why.contains("550"), "{why}"),
        other => panic!("a 550 should be permanent: {other:?}"),
    }
    match mailer.send(&mail("t-1", "tempfail@example.net")).await {
        Err(SendError::Temporary(why)) => assert!(why.contains("451"), "{why}"),
        other => panic!("a 451 should be temporary: {other:?}"),
    }
    // Not an address at all: refused before the server is asked, and the address is not repeated.
    match mailer.send(&mail("b-1", "jo.parent at example.net")).await {
        Err(SendError::Permanent(why)) => assert!(!why.contains("jo.parent"), "{why}"),
        other => panic!("a malformed address should be permanent: {other:?}"),
    }
    // The mailer goes on after failures (each failed exchange drops its connection).
    mailer.send(&mail("ok-1", "jo.parent@example.net")).await.unwrap();
    let received = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(received.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(), [mailer.message_id("ok-1")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_server_is_temporary_and_a_restarted_one_is_used_again() {
    let mut sink = SmtpSink::start();
    let mailer = mailer(&sink.url(), Duration::from_secs(5));
    mailer.send(&mail("s-1", "a@example.net")).await.unwrap();
    sink.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", sink.port())).is_err(), "the port refuses");
    // The connection kept from the first message is dead, and no new one can be made.
    for id in ["s-2", "s-3"] {
        match mailer.send(&mail(id, "a@example.net")).await {
            Err(SendError::Temporary(why)) => assert!(why.contains(&sink.port().to_string()), "{why}"),
            other => panic!("a stopped server should be temporary: {other:?}"),
        }
    }
    sink.restart();
    mailer.send(&mail("s-4", "a@example.net")).await.unwrap();
    let received = sink.wait_for(2, Duration::from_secs(5));
    let ids: Vec<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, [mailer.message_id("s-1"), mailer.message_id("s-4")]);
    assert_eq!((received[0].number, received[1].number), (1, 2), "the restart kept the directory and numbering");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_is_temporary_within_the_timeout() {
    let hanging = HangingSmtp::start();
    let mailer = mailer(&hanging.url(), Duration::from_secs(2));
    let started = Instant::now();
    let outcome = mailer.send(&mail("h-1", "a@example.net")).await;
    let took = started.elapsed();
    match outcome {
        Err(SendError::Temporary(why)) => assert!(why.contains("2s"), "{why}"),
        other => panic!("a silent server should be temporary: {other:?}"),
    }
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_to_a_server_without_it_is_temporary() {
    let sink = SmtpSink::start();
    let mailer = mailer(&format!("smtps://127.0.0.1:{}", sink.port()), Duration::from_secs(5));
    match mailer.send(&mail("tls-1", "a@example.net")).await {
        Err(SendError::Temporary(_)) => {}
        other => panic!("a failed TLS handshake should be temporary: {other:?}"),
    }
    assert!(sink.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_account_in_the_url_signs_in_and_a_wrong_one_is_temporary() {
    let sink = SmtpSink::start_with_auth("relay@college.example.org", "s3cr:t/pass");
    let url = format!("smtp://relay%40college.example.org:s3cr%3At%2Fpass@127.0.0.1:{}", sink.port());
    mailer(&url, Duration::from_secs(5)).send(&mail("auth-1", "a@example.net")).await.unwrap();
    let wrong = format!("smtp://relay%40college.example.org:guess@127.0.0.1:{}", sink.port());
    // A refused account (535) is about our settings, not the message: it can go once they are fixed.
    match mailer(&wrong, Duration::from_secs(5)).send(&mail("auth-2", "a@example.net")).await {
        Err(SendError::Temporary(why)) => assert!(why.contains("535") && !why.contains("guess"), "{why}"),
        other => panic!("a refused account should be temporary: {other:?}"),
    }
    let none = format!("smtp://127.0.0.1:{}", sink.port());
    // No account at all where the server wants one (530 at MAIL FROM): also ours to fix.
    match mailer(&none, Duration::from_secs(5)).send(&mail("auth-3", "a@example.net")).await {
        Err(SendError::Temporary(why)) => assert!(why.contains("530"), "{why}"),
        other => panic!("a missing account should be temporary: {other:?}"),
    }
    let received = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(received.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(), ["<auth-1@college.example.org>"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_messages_eight_at_a_time_each_arrive_once() {
    let sink = SmtpSink::start();
    let mailer = mailer(&sink.url(), Duration::from_secs(30));
    let mails: Vec<Mail> = (0..200)
        .map(|i| Mail {
            subject: format!("Request {i}"),
            body: format!("Message {i}: https://consent.example.org/r/{i}\n"),
            ..mail(&format!("bulk-{i:03}"), &format!("parent{i}@example.net"))
        })
        .collect();
    let started = Instant::now();
    let outcomes: Vec<Result<(), SendError>> =
        futures::stream::iter(&mails).map(|m| mailer.send(m)).buffer_unordered(8).collect().await;
    let took = started.elapsed();
    println!("200 messages, 8 at a time, delivered in {took:?}");
    let failed: Vec<&Result<(), SendError>> = outcomes.iter().filter(|o| o.is_err()).collect();
    assert!(failed.is_empty(), "{} failed, the first: {:?}", failed.len(), failed.first());
    let received = sink.wait_for(200, Duration::from_secs(10));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for message in &received {
        *seen.entry(message.message_id.clone()).or_default() += 1;
        let i: usize = message.subject.strip_prefix("Request ").unwrap().parse().unwrap();
        assert_eq!(message.to_address, format!("parent{i}@example.net"));
        assert_eq!(message.body, mails[i].body);
    }
    let want: BTreeMap<String, usize> = mails.iter().map(|m| (mailer.message_id(&m.id), 1)).collect();
    assert_eq!(seen, want, "every message exactly once");
}

#[test]
fn the_test_decoders_read_what_mail_encoders_write() {
    assert_eq!(base64("Wm/DqyDDhW5nc3Ryw7Zt").unwrap(), "Zoë Ångström".as_bytes());
    assert_eq!(base64("YQ==").unwrap(), b"a");
    assert_eq!(quoted_printable(b"caf=C3=A9 =\r\nau lait=3D"), "café au lait=".as_bytes());
    assert_eq!(decode_words("=?utf-8?b?Wm/Dqw==?= =?utf-8?q?_=C3=85?= <z@example.org>"), "Zoë Å <z@example.org>");
    assert_eq!(decode_words("=?utf-8?b?Wm/D?= =?utf-8?b?qw==?="), "Zoë", "a character split across two words");
    assert_eq!(decode_words("plain =? text"), "plain =? text");
    assert_eq!(unquote("\"Smith, \\\"Jo\\\"\""), "Smith, \"Jo\"");
}
