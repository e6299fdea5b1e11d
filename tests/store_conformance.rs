//! One conformance suite, run against both store backends: SQLite in a temp dir and a fresh
//! database on the machine's PostgreSQL server.

mod common;

use std::sync::Arc;

use common::server::fresh_pg_database;
use consentgate::policy::Purpose;
use consentgate::store::{self, verify_chain, AuditDraft, PhotoRecord, Role, Store, StoreError, GENESIS_HASH};
use consentgate::tokens;

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/cg.db").display());
    let store: Arc<dyn Store> = Arc::from(store::open(&url).await.unwrap());
    store.migrate().await.unwrap();
    (store, dir)
}

async fn postgres() -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::from(store::open(&fresh_pg_database().await).await.unwrap());
    store.migrate().await.unwrap();
    store
}

fn photo(id: &str, original: &str, uploader: &str) -> PhotoRecord {
    PhotoRecord {
        id: id.into(),
        object_key: format!("photos/{original}.jpg"),
        format: "jpeg".into(),
        width: 640,
        height: 480,
        byte_size: 1234,
        blake3: "b".repeat(64),
        original_blake3: original.into(),
        phash: "c".repeat(64),
        removed: "[\"exif\"]".into(),
        caption: "At the workshop".into(),
        alt_text: "Two learners at a bench".into(),
        all_tagged: true,
        uploaded_by: uploader.into(),
        created_at: 1_700_000_000_000,
        learner_ids: vec![],
        purposes: vec![Purpose::Print, Purpose::Website],
    }
}

async fn conformance(store: Arc<dyn Store>) {
    // Migrations are idempotent.
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    let empty = store.table_counts().await.unwrap();
    assert!(empty.values().all(|&n| n == 0), "{empty:?}");

    // Tokens.
    let t = tokens::generate(Role::Tutor, "Sam Tutor");
    store
        .create_token(&t.record, AuditDraft::new("cli", "token_created", &t.record.id, serde_json::json!({})))
        .await
        .unwrap();
    assert_eq!(store.token(&t.record.id).await.unwrap(), Some(t.record.clone()));
    assert_eq!(store.token("nope").await.unwrap(), None);
    assert_eq!(store.count_tokens(Role::Tutor).await.unwrap(), 1);
    assert_eq!(store.count_tokens(Role::Admin).await.unwrap(), 0);

    // Photos round-trip, and the original's hash is unique.
    let p = photo("p1", &"a".repeat(64), &t.record.id);
    store.insert_photo(&p, AuditDraft::new(&t.record.id, "photo_uploaded", "p1", serde_json::json!({}))).await.unwrap();
    assert_eq!(store.photo("p1").await.unwrap(), Some(p.clone()));
    assert_eq!(store.photo_by_original(&"a".repeat(64)).await.unwrap(), Some(p.clone()));
    assert_eq!(store.photo("p2").await.unwrap(), None);
    let before = store.table_counts().await.unwrap();
    let duplicate = photo("p2", &"a".repeat(64), &t.record.id);
    let err = store.insert_photo(&duplicate, AuditDraft::new("x", "photo_uploaded", "p2", serde_json::json!({}))).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    // A failed insert leaves no trace, not even its audit row.
    assert_eq!(store.table_counts().await.unwrap(), before);
    assert_eq!(store.object_keys().await.unwrap(), vec![p.object_key.clone()]);

    // Learners must exist to be tagged (none do yet).
    assert_eq!(store.unknown_learners(&["l1".into()]).await.unwrap(), vec!["l1".to_string()]);

    // The audit chain: concurrent appends never fork it.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.append_audit(AuditDraft::new("t", "test", format!("s{i}"), serde_json::json!({"i": i}))).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rows = store.audit_log(0, 1000).await.unwrap();
    assert_eq!(rows.len(), 22);
    assert_eq!(verify_chain(&rows, (0, GENESIS_HASH.into())).unwrap().0, 22);
    // Paging continues the chain.
    let first = store.audit_log(0, 10).await.unwrap();
    let rest = store.audit_log(10, 1000).await.unwrap();
    let mid = verify_chain(&first, (0, GENESIS_HASH.into())).unwrap();
    assert_eq!(verify_chain(&rest, mid).unwrap().0, 22);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_conforms() {
    let (store, _dir) = sqlite().await;
    conformance(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_conforms() {
    conformance(postgres().await).await;
}
