//! Claim latency with a large queue on PostgreSQL: seeds N queued items (default 100 000) in a
//! fresh database, then times claims through the store, one claimer and then four at once, and
//! prints p50/p99. Run by `bench/claims`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use consentgate::policy::consent::Rules;
use consentgate::policy::Purpose;
use consentgate::store::{self, Evaluation, FullStore};
use sqlx::Connection;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

fn eval() -> Evaluation {
    Evaluation {
        at: time::OffsetDateTime::now_utc(),
        live: false,
        rules: Rules::default(),
        actor: "bench".into(),
        names: Default::default(),
    }
}

#[tokio::main]
async fn main() {
    let items: i64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let server = std::env::var("CONSENTGATE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("cg_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.expect("PostgreSQL is reachable");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let url = format!("{server}/{name}");
    let store: Arc<dyn FullStore> = Arc::from(store::open(&url).await.unwrap());
    store.migrate().await.unwrap();

    // Seed in bulk with SQL: the insert path is not what is measured here. One adult learner with
    // a standing grant for the website, pictured in every photo.
    let started = Instant::now();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let now = store::now_ms();
    for sql in [
        "INSERT INTO tokens VALUES ('bench', 'tutor', 'bench', 'x', 0)".to_string(),
        "INSERT INTO learners (id, given_name, family_name, date_of_birth, created_at, updated_at) \
         VALUES ('l1', 'Queue', 'Person', '1990-01-01', 0, 0)"
            .to_string(),
        format!(
            "INSERT INTO consent_events VALUES ('e1', 'l1', 'granted', 'website', 'learner', NULL, {}, NULL, 'v1', \
             repeat('0', 64), 'paper_form', 'bench', 'bench', {now})",
            now - 1000
        ),
        format!(
            "INSERT INTO photos (id, object_key, format, width, height, byte_size, blake3, original_blake3, phash, \
             removed, caption, alt_text, all_tagged, uploaded_by, created_at) \
             SELECT 'p' || i, 'photos/' || i, 'jpeg', 10, 10, 1, repeat('0', 64), lpad(i::text, 64, '0'), repeat('0', 64), \
             '[]', 'item ' || i, '', true, 'bench', {now} FROM generate_series(1, {items}) i"
        ),
        format!("INSERT INTO photo_learners SELECT 'p' || i, 'l1' FROM generate_series(1, {items}) i"),
        format!(
            "INSERT INTO photo_purposes (photo_id, purpose, state, detail, changed_at, item_id) \
             SELECT 'p' || i, 'website', 'queued', '{{\"reasons\":[],\"learners\":[]}}', {now} + i, 'p' || i || ':website' \
             FROM generate_series(1, {items}) i"
        ),
        "ANALYZE".to_string(),
    ] {
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
    }
    println!("seeded {items} queued items in {:.1} s", started.elapsed().as_secs_f64());

    let report = |label: &str, mut times: Vec<Duration>| {
        times.sort();
        println!(
            "{label}: {} claims, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            times.len(),
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3
        );
    };
    let mut times = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        store.claim(Purpose::Website, "bench-1", 600_000, eval()).await.unwrap().expect("an item");
        times.push(t.elapsed());
    }
    report("one claimer", times);

    let mut tasks = Vec::new();
    for c in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for _ in 0..250 {
                let t = Instant::now();
                store.claim(Purpose::Website, &format!("bench-{c}"), 600_000, eval()).await.unwrap().expect("an item");
                times.push(t.elapsed());
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    report("four claimers at once", all);
    drop(store);
    drop(conn);
    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await;
}
