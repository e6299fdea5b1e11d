//! One conformance suite, run against both store backends: SQLite in a temp dir and a fresh
//! database on the machine's PostgreSQL server.

mod common;

use std::sync::Arc;

use common::server::fresh_pg_database;
use consentgate::policy::consent::{EventKind, Giver, Rules};
use consentgate::policy::{Purpose, Reason, State};
use consentgate::store::{
    self, verify_chain, AuditAction, AuditDraft, ClaimOutcome, ConsentRecord, Evaluation, FullStore, GuardianAdded,
    GuardianRecord, LearnerRecord, PhotoDeletion, PhotoRecord, PublishOutcome, ReissueOutcome, RetiredImage,
    RevokeOutcome, Role, SignInLink, StoreError, WithdrawOutcome, GENESIS_HASH,
};
use consentgate::store::{Letter, MailKind, MailState, OutboxMessage};
use consentgate::tokens;
use serde_json::json;

async fn sqlite() -> (Arc<dyn FullStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/cg.db").display());
    let store: Arc<dyn FullStore> = Arc::from(store::open(&url).await.unwrap());
    store.migrate().await.unwrap();
    (store, dir)
}

async fn postgres() -> Arc<dyn FullStore> {
    let store: Arc<dyn FullStore> = Arc::from(store::open(&fresh_pg_database().await).await.unwrap());
    store.migrate().await.unwrap();
    store
}

/// The object keys of images retired.
fn keys(retired: Vec<RetiredImage>) -> Vec<String> {
    retired.into_iter().map(|image| image.object_key).collect()
}

fn photo(id: &str, original: &str, uploader: &str) -> PhotoRecord {
    PhotoRecord {
        id: id.into(),
        object_key: format!("photos/{original}.jpg"),
        format: "jpeg".into(),
        width: 640,
        height: 480,
        byte_size: 1234,
        // Distinct originals scrub to distinct bytes here: only what a test makes a twin is one.
        blake3: original.into(),
        original_blake3: original.into(),
        // Distinct originals give distinct pictures: only what a test makes alike matches.
        phash: original.chars().cycle().take(64).collect(),
        removed: "[\"exif\"]".into(),
        caption: "At the workshop".into(),
        alt_text: "Two learners at a bench".into(),
        title: String::new(),
        tags: Vec::new(),
        all_tagged: true,
        uploaded_by: uploader.into(),
        created_at: 1_700_000_000_000,
        learner_ids: vec![],
        purposes: vec![Purpose::Website, Purpose::Print],
        status: Default::default(),
        resembles: Vec::new(),
        image_deleted_at: None,
    }
}

/// The queue on a fixed clock: claims, leases running out, publication, a withdrawal turning a
/// publication into a takedown, images retired, takedowns done.
async fn queue_conformance(store: &Arc<dyn FullStore>, tutor: &str) {
    let ben = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-00000000000b".into(),
        given_name: "Ben".into(),
        family_name: "Baker".into(),
        preferred_name: None,
        date_of_birth: Some("2000-01-01".into()),
        external_ref: None,
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    store
        .insert_learner(&ben, AuditDraft::new("admin", AuditAction::LearnerCreated, &ben.id, json!({})))
        .await
        .unwrap();
    let own = event("q1", &ben.id, EventKind::Granted, Giver::Learner, T0);
    store
        .record_consent(
            &own,
            Some("hash-q"),
            AuditDraft::new("admin", AuditAction::ConsentRecorded, &ben.id, json!({})),
            at(T0),
        )
        .await
        .unwrap();
    for (i, id) in ["q-a", "q-b", "q-c"].iter().enumerate() {
        let mut p = photo(id, &format!("{i}").repeat(64), tutor);
        p.object_key = format!("photos/{id}.jpg");
        p.learner_ids = vec![ben.id.clone()];
        p.purposes = vec![Purpose::Website];
        let status = store
            .insert_photo(&p, AuditDraft::new(tutor, AuditAction::PhotoUploaded, *id, json!({})), at(T0))
            .await
            .unwrap();
        assert_eq!(status[&Purpose::Website].state, State::Queued);
    }
    let queued = store.queue(Some(Purpose::Website), ms(T0), 10).await.unwrap();
    assert_eq!(queued.iter().map(|i| i.photo_id.as_str()).collect::<Vec<_>>(), ["q-a", "q-b", "q-c"]);
    assert!(store.queue(Some(Purpose::Print), ms(T0), 10).await.unwrap().is_empty());

    // Dan consents; his photo q-e looks like Ben's q-c (a copy uploaded before Ben says no).
    let dan = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-00000000000d".into(),
        given_name: "Dan".into(),
        family_name: "Dale".into(),
        ..ben.clone()
    };
    store
        .insert_learner(&dan, AuditDraft::new("admin", AuditAction::LearnerCreated, &dan.id, json!({})))
        .await
        .unwrap();
    let dans = event("q-dan", &dan.id, EventKind::Granted, Giver::Learner, T0);
    store
        .record_consent(&dans, None, AuditDraft::new("admin", AuditAction::ConsentRecorded, &dan.id, json!({})), at(T0))
        .await
        .unwrap();
    let mut copy = photo("q-e", &"e2".repeat(32), tutor);
    copy.phash = "2".repeat(64); // q-c's picture
    copy.object_key = "photos/q-e.jpg".into();
    copy.learner_ids = vec![dan.id.clone()];
    copy.purposes = vec![Purpose::Website];
    let status = store
        .insert_photo(&copy, AuditDraft::new(tutor, AuditAction::PhotoUploaded, "q-e", json!({})), at(T0))
        .await
        .unwrap();
    assert_eq!(status[&Purpose::Website].state, State::Queued);
    assert_eq!(store.queue(Some(Purpose::Website), ms(T0), 10).await.unwrap().len(), 4);

    let minute = 60_000;
    let a1 = store.claim(Purpose::Website, "alice", minute, at(T0)).await.unwrap().unwrap();
    let a2 = store.claim(Purpose::Website, "alice", minute, at(T0)).await.unwrap().unwrap();
    assert_eq!((a1.photo_id.as_str(), a2.photo_id.as_str(), a1.state), ("q-a", "q-b", State::Claimed));
    assert_eq!(store.queue(Some(Purpose::Website), ms(T0), 10).await.unwrap().len(), 2);
    // Two minutes on, Alice's leases have run out: Bob gets the first item back.
    let later = T0 + time::Duration::minutes(2);
    let b1 = store.claim(Purpose::Website, "bob", minute, at(later)).await.unwrap().unwrap();
    assert_eq!(b1.item_id, a1.item_id);
    // Alice published it before her lease ran out and reports late, while Bob holds it: it is out
    // there, so it is recorded (and owes a takedown on withdrawal) all the same.
    let PublishOutcome::Published(p1) =
        store.publish(&a1.item_id, "alice", "https://x/1", "web", at(later)).await.unwrap()
    else {
        panic!("a late report was not recorded")
    };
    assert_eq!((p1.state, p1.published_url.as_deref()), (State::Published, Some("https://x/1")));
    // Nobody took Alice's second item, so her late report counts; a second channel is recorded too.
    let PublishOutcome::Published(p2) =
        store.publish(&a2.item_id, "alice", "https://x/2", "web", at(later)).await.unwrap()
    else {
        panic!("not published")
    };
    assert_eq!((p2.state, p2.published_url.as_deref()), (State::Published, Some("https://x/2")));
    let PublishOutcome::Published(p2b) =
        store.publish(&a2.item_id, "alice", "https://insta/2", "insta", at(later)).await.unwrap()
    else {
        panic!("a second channel was not recorded")
    };
    assert_eq!(p2b.published_channel.as_deref(), Some("insta"));
    assert_eq!(store.table_counts().await.unwrap()["publications"], 3);
    assert_eq!(store.publish("nope", "alice", "https://x", "web", at(later)).await.unwrap(), PublishOutcome::Unknown);
    assert_eq!(store.released_for_download("q-a", at(later)).await.unwrap(), Ok(()));

    // Ben withdraws: every publication owes a takedown, the queued items are held, and the copy
    // of his photo uploaded before he said no is held for him too, in the same transaction.
    let outcome = store.withdraw_by_link("hash-q", "q2", None, at(later)).await.unwrap();
    let WithdrawOutcome::Withdrawn { changes, .. } = outcome else { panic!("{outcome:?}") };
    let mut moves: Vec<_> = changes.iter().map(|c| (c.photo_id.as_str(), c.from.state, c.to.state)).collect();
    moves.sort_by_key(|m| m.0);
    assert_eq!(
        moves,
        [
            ("q-a", State::Published, State::Withdrawn),
            ("q-b", State::Published, State::Withdrawn),
            ("q-c", State::Queued, State::Held),
            ("q-e", State::Queued, State::Held),
        ]
    );
    let copy = store.photo("q-e").await.unwrap().unwrap();
    assert_eq!(copy.resembles, vec![(ben.id.clone(), "q-c".to_string())]);
    assert_eq!(copy.status[&Purpose::Website].reasons, vec![Reason::MatchesWithdrawn]);
    let open = store.takedowns(false).await.unwrap();
    let mut owed: Vec<_> = open.iter().map(|t| (t.photo_id.as_str(), t.url.as_str(), t.channel.as_str())).collect();
    owed.sort();
    assert_eq!(
        owed,
        [("q-a", "https://x/1", "web"), ("q-b", "https://insta/2", "insta"), ("q-b", "https://x/2", "web")]
    );
    assert!(open.iter().all(|t| t.reasons == vec![Reason::Withdrawn]));
    // Marketing can tell which post to remove: the text as released comes with each takedown.
    assert!(open
        .iter()
        .all(|t| (t.caption.as_str(), t.alt_text.as_str()) == ("At the workshop", "Two learners at a bench")));
    assert!(store.claim(Purpose::Website, "bob", minute, at(later)).await.unwrap().is_none());
    assert_eq!(store.released_for_download("q-a", at(later)).await.unwrap(), Err(vec![Reason::Withdrawn]));
    // Bob publishes the item he held anyway: recorded, and a takedown is owed at once.
    assert_eq!(
        store.publish(&b1.item_id, "bob", "https://x/3", "insta", at(later)).await.unwrap(),
        PublishOutcome::TakedownOwed(vec![Reason::Withdrawn])
    );
    assert_eq!(store.takedowns(false).await.unwrap().len(), 4);
    // Publishing the held copy is recorded too, and owed at once.
    assert_eq!(
        store.publish("q-e:website", "bob", "https://x/4", "web", at(later)).await.unwrap(),
        PublishOutcome::TakedownOwed(vec![Reason::MatchesWithdrawn])
    );
    assert_eq!(store.takedowns(false).await.unwrap().len(), 5);

    // Every purpose of every photo of his is now a no: the images go, the rows stay. The look-alike
    // held for him stays held but keeps its image: a fuzzy match must not destroy someone's photo.
    let mut retired = keys(store.retire_images_of(&ben.id, at(later)).await.unwrap());
    retired.sort();
    assert_eq!(retired, ["photos/q-a.jpg", "photos/q-b.jpg", "photos/q-c.jpg"]);
    assert!(store.photo("q-e").await.unwrap().unwrap().image_deleted_at.is_none());
    assert!(store.photo("q-a").await.unwrap().unwrap().image_deleted_at.is_some());
    assert!(!store.object_in_use("photos/q-a.jpg").await.unwrap());
    assert!(store.retire_images_of(&ben.id, at(later)).await.unwrap().is_empty());

    // A takedown per publication: q-b is taken down only once both of its posts are.
    let q_b: Vec<_> = open.iter().filter(|t| t.photo_id == "q-b").map(|t| t.id.clone()).collect();
    assert!(store.takedown_done(&q_b[0], at(later)).await.unwrap());
    assert!(!store.takedown_done(&q_b[0], at(later)).await.unwrap());
    assert_eq!(store.photo("q-b").await.unwrap().unwrap().status[&Purpose::Website].state, State::Withdrawn);
    assert!(store.takedown_done(&q_b[1], at(later)).await.unwrap());
    assert_eq!(store.photo("q-b").await.unwrap().unwrap().status[&Purpose::Website].state, State::TakenDown);
    assert_eq!(store.takedowns(false).await.unwrap().len(), 3);
    assert_eq!(store.takedowns(true).await.unwrap().len(), 5);

    // A lookalike of his photo, tagged with Amira (whose guardian withdrew for the website in the
    // consent suite), is held for him as well as for her.
    let mut lookalike = photo("q-d", &"9".repeat(64), tutor);
    lookalike.learner_ids = vec!["0192f0c4-0000-7000-8000-00000000000a".into()];
    lookalike.purposes = vec![Purpose::Website];
    lookalike.resembles = vec![(ben.id.clone(), "q-a".into())];
    let status = store
        .insert_photo(&lookalike, AuditDraft::new(tutor, AuditAction::PhotoUploaded, "q-d", json!({})), at(later))
        .await
        .unwrap();
    assert!(status[&Purpose::Website].reasons.contains(&Reason::MatchesWithdrawn), "{status:?}");
    assert_eq!(store.photo("q-d").await.unwrap().unwrap().resembles, lookalike.resembles);
    assert!(status[&Purpose::Website].reasons.contains(&Reason::Withdrawn), "{status:?}");
    // Its image goes, because of her own standing no as a learner tagged in it (q-e, held only as
    // his look-alike, kept its image above).
    assert_eq!(keys(store.retire_images_of(&ben.id, at(later)).await.unwrap()), [lookalike.object_key.clone()]);
    assert!(store.photo("q-e").await.unwrap().unwrap().image_deleted_at.is_none());
    let said_no = store.photos_of_learners_who_said_no().await.unwrap();
    assert!(said_no.iter().any(|(p, _, l)| p == "q-a" && l == &ben.id));
}

/// A fixed moment, so that expiry can be crossed without waiting.
const T0: time::OffsetDateTime = time::macros::datetime!(2026-11-24 09:00 UTC);

fn at(t: time::OffsetDateTime) -> Evaluation {
    Evaluation { at: t, live: false, rules: Rules::default(), actor: "test".into(), names: Default::default() }
}

fn ms(t: time::OffsetDateTime) -> i64 {
    store::ms_of_time(t)
}

fn event(id: &str, learner: &str, kind: EventKind, giver: Giver, given: time::OffsetDateTime) -> ConsentRecord {
    ConsentRecord {
        id: id.into(),
        learner_id: learner.into(),
        kind,
        purposes: vec![Purpose::Website],
        giver,
        given_at: ms(given),
        expires_at: None,
        form_version: "2026-1".into(),
        form_text_hash: "d".repeat(64),
        method: "paper_form".into(),
        evidence: "scan 17".into(),
        recorded_by: "admin".into(),
        recorded_at: ms(given),
    }
}

/// Consent history, withdrawal links and re-evaluation, on a fixed clock.
async fn consent_conformance(store: &Arc<dyn FullStore>, tutor: &str) {
    let learner = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-00000000000a".into(),
        given_name: "Amira".into(),
        family_name: "Khan".into(),
        preferred_name: None,
        date_of_birth: Some("2012-03-04".into()),
        external_ref: Some("MIS-1".into()),
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![GuardianRecord { id: "g-mum".into(), name: "Sara Khan".into(), email: None, removed_at: None }],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    store
        .insert_learner(&learner, AuditDraft::new("admin", AuditAction::LearnerCreated, &learner.id, json!({})))
        .await
        .unwrap();
    let mut p = photo("p3", &"e".repeat(64), tutor);
    p.learner_ids = vec![learner.id.clone()];
    let status = store
        .insert_photo(&p, AuditDraft::new(tutor, AuditAction::PhotoUploaded, "p3", json!({})), at(T0))
        .await
        .unwrap();
    assert_eq!(status[&Purpose::Website].reasons, vec![Reason::NoConsent]);
    assert_eq!(store.photo("p3").await.unwrap().unwrap().status, status);

    // The child's own grant does not count: still held, now for want of a guardian.
    let own = event("e1", &learner.id, EventKind::Granted, Giver::Learner, T0);
    let changes = store
        .record_consent(
            &own,
            None,
            AuditDraft::new("admin", AuditAction::ConsentRecorded, &learner.id, json!({})),
            at(T0),
        )
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].to.state, changes[0].to.reasons.clone()), (State::Held, vec![Reason::NeedsGuardian]));

    // A corrected date of birth re-evaluates at once: as an adult, her own grant counts.
    let mut adult = learner.clone();
    adult.date_of_birth = Some("2000-01-01".into());
    let correct = |l: &LearnerRecord| AuditDraft::new("admin", AuditAction::LearnerCorrected, &l.id, json!({}));
    assert!(store.update_learner(&adult, correct(&adult), at(T0)).await.unwrap());
    assert_eq!(store.photo("p3").await.unwrap().unwrap().status[&Purpose::Website].state, State::Queued);
    assert!(store.update_learner(&learner, correct(&learner), at(T0)).await.unwrap());
    let back = store.photo("p3").await.unwrap().unwrap().status[&Purpose::Website].clone();
    assert_eq!((back.state, back.reasons), (State::Held, vec![Reason::NeedsGuardian]));

    // The guardian's grant, expiring in an hour, queues the website purpose only.
    let mut mum = event("e2", &learner.id, EventKind::Granted, Giver::Guardian("g-mum".into()), T0);
    mum.expires_at = Some(ms(T0 + time::Duration::HOUR));
    let changes = store
        .record_consent(
            &mum,
            Some("hash-1"),
            AuditDraft::new("admin", AuditAction::ConsentRecorded, &learner.id, json!({})),
            at(T0),
        )
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    let stored = store.photo("p3").await.unwrap().unwrap();
    assert_eq!(stored.status[&Purpose::Website].state, State::Queued);
    assert_eq!(stored.status[&Purpose::Print].state, State::Held);
    assert_eq!(store.consents(&learner.id).await.unwrap(), vec![own.clone(), mum.clone()]);

    // Re-evaluating without any change changes nothing; an hour later the grant has expired.
    assert!(store.reevaluate(&["p3".into()], at(T0 + time::Duration::MINUTE)).await.unwrap().is_empty());
    let changes = store.reevaluate(&["p3".into(), "missing".into()], at(T0 + time::Duration::HOUR)).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].to.state, changes[0].to.reasons.clone()), (State::Held, vec![Reason::Expired]));
    store.reevaluate(&["p3".into()], at(T0)).await.unwrap();

    // The withdrawal link: shown, used once, then used up; unknown hashes are unknown.
    let link = store.withdrawal_link("hash-1").await.unwrap().unwrap();
    assert_eq!((link.first_name.as_str(), link.used_at, link.grant.id.as_str()), ("Amira", None, "e2"));
    assert!(store.withdrawal_link("hash-2").await.unwrap().is_none());
    let later = T0 + time::Duration::MINUTE;
    let outcome = store.withdraw_by_link("hash-1", "e3", None, at(later)).await.unwrap();
    let WithdrawOutcome::Withdrawn { event: withdrawal, changes } = outcome else { panic!("{outcome:?}") };
    assert_eq!((withdrawal.kind, withdrawal.giver.clone()), (EventKind::Withdrawn, Giver::Guardian("g-mum".into())));
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].from.state, changes[0].to.state), (State::Queued, State::Held));
    assert_eq!(changes[0].to.reasons, vec![Reason::Withdrawn]);
    let before = store.table_counts().await.unwrap();
    assert_eq!(
        store.withdraw_by_link("hash-1", "e4", None, at(later)).await.unwrap(),
        WithdrawOutcome::AlreadyUsed(ms(later))
    );
    assert_eq!(store.withdraw_by_link("hash-9", "e5", None, at(later)).await.unwrap(), WithdrawOutcome::Unknown);
    assert_eq!(store.table_counts().await.unwrap(), before, "a used or unknown link changed something");
    assert_eq!(store.withdrawal_link("hash-1").await.unwrap().unwrap().used_at, Some(ms(later)));

    // Editing the photo (untagging everyone) re-evaluates in the same call.
    let mut edited = store.photo("p3").await.unwrap().unwrap();
    edited.learner_ids.clear();
    edited.purposes = vec![Purpose::Internal];
    assert!(store
        .update_photo(&edited, AuditDraft::new(tutor, AuditAction::PhotoEdited, "p3", json!({})), at(later))
        .await
        .unwrap());
    let stored = store.photo("p3").await.unwrap().unwrap();
    assert_eq!(stored.purposes, vec![Purpose::Internal]);
    assert_eq!(stored.status[&Purpose::Internal].reasons, vec![Reason::NoLearnersTagged]);
    assert!(!store
        .update_photo(
            &photo("nope", "f", tutor),
            AuditDraft::new(tutor, AuditAction::PhotoEdited, "y", json!({})),
            at(later)
        )
        .await
        .unwrap());

    // Paging through the photos whose status can still change.
    assert_eq!(store.live_photo_ids("", 1).await.unwrap(), vec!["p1".to_string()]);
    assert_eq!(store.live_photo_ids("p1", 10).await.unwrap(), vec!["p3".to_string()]);
    assert!(store.live_photo_ids("p3", 10).await.unwrap().is_empty());
}

/// Claiming one particular item (chosen from the grid): out of queue order, once only, and not
/// at all once it no longer passes.
async fn claim_item_conformance(store: &Arc<dyn FullStore>, tutor: &str) {
    let cleo = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-00000000000c".into(),
        given_name: "Cleo".into(),
        family_name: "Carter".into(),
        preferred_name: None,
        date_of_birth: Some("2000-01-01".into()),
        external_ref: None,
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    store
        .insert_learner(&cleo, AuditDraft::new("admin", AuditAction::LearnerCreated, &cleo.id, json!({})))
        .await
        .unwrap();
    let own = ConsentRecord {
        purposes: vec![Purpose::Print],
        ..event("ci-grant", &cleo.id, EventKind::Granted, Giver::Learner, T0)
    };
    store
        .record_consent(&own, None, AuditDraft::new("admin", AuditAction::ConsentRecorded, &cleo.id, json!({})), at(T0))
        .await
        .unwrap();
    for (id, original) in [("ci-1", "71"), ("ci-2", "72")] {
        let mut p = photo(id, &original.repeat(32), tutor);
        p.learner_ids = vec![cleo.id.clone()];
        p.purposes = vec![Purpose::Print];
        store
            .insert_photo(&p, AuditDraft::new(tutor, AuditAction::PhotoUploaded, id, json!({})), at(T0))
            .await
            .unwrap();
    }
    let minute = 60_000;
    let chosen = store.claim_item("ci-2:print", "dana", minute, at(T0)).await.unwrap().claimed().unwrap();
    assert_eq!((chosen.photo_id.as_str(), chosen.claimed_by.as_deref()), ("ci-2", Some("dana")));
    assert!(store.claim_item("ci-2:print", "erin", minute, at(T0)).await.unwrap().claimed().is_none(), "once only");
    assert!(store.claim_item("nope:print", "erin", minute, at(T0)).await.unwrap().claimed().is_none());
    assert_eq!(store.items_claimed_by("dana", ms(T0)).await.unwrap().len(), 1);
    assert!(store.items_claimed_by("dana", ms(T0) + minute).await.unwrap().is_empty(), "the lease ran out");
    // Once consent is refused, the item is not handed out, and the re-check sticks.
    let no = event("ci-no", &cleo.id, EventKind::Refused, Giver::Learner, T0);
    let no = ConsentRecord { purposes: vec![Purpose::Print], ..no };
    let later = T0 + time::Duration::minutes(1);
    store
        .record_consent(
            &no,
            None,
            AuditDraft::new("admin", AuditAction::ConsentRecorded, &cleo.id, json!({})),
            at(later),
        )
        .await
        .unwrap();
    assert!(store.claim_item("ci-1:print", "erin", minute, at(later)).await.unwrap().claimed().is_none());
    assert_eq!(store.photo("ci-1").await.unwrap().unwrap().status[&Purpose::Print].state, State::Held);

    // A photo tagged with Cleo after her refusal was on record (a tutor's tag, perhaps a wrong
    // one) is held, but not deleted: the tag can still be corrected.
    let mut tagged_late = photo("ci-3", &"73".repeat(32), tutor);
    tagged_late.learner_ids = vec![cleo.id.clone()];
    tagged_late.purposes = vec![Purpose::Print];
    tagged_late.created_at = ms(later) + minute;
    let status = store
        .insert_photo(&tagged_late, AuditDraft::new(tutor, AuditAction::PhotoUploaded, "ci-3", json!({})), at(later))
        .await
        .unwrap();
    assert_eq!(status[&Purpose::Print].state, State::Held);

    // Nobody retired Cleo's images after her refusal (as when that step fails): the periodic
    // pass does, a page at a time, and only those that every purpose refuses and that existed
    // when she said no.
    let (mut keys, mut after) = (Vec::new(), String::new());
    loop {
        let (page, last) = store.retire_unusable_images(&after, 1, at(later)).await.unwrap();
        keys.extend(page.into_iter().map(|image| image.object_key));
        let Some(last) = last else { break };
        after = last;
    }
    keys.sort();
    assert_eq!(keys, [format!("photos/{}.jpg", "71".repeat(32)), format!("photos/{}.jpg", "72".repeat(32))]);
    assert!(store.photo("ci-2").await.unwrap().unwrap().image_deleted_at.is_some());
    assert!(store.photo("p3").await.unwrap().unwrap().image_deleted_at.is_none(), "p3 is held for other reasons");
    assert!(store.photo("ci-3").await.unwrap().unwrap().image_deleted_at.is_none(), "tagged after her no");
    assert!(store.retire_unusable_images("", 100, at(later)).await.unwrap().0.is_empty());
}

/// A claim of one item that cannot be had says why, from the status its re-check left: held with
/// its reasons, claimed by someone else, or unknown; and a lease that ran out can be taken over.
async fn claim_outcome_conformance(store: &Arc<dyn FullStore>, tutor: &str) {
    let hana = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-0000000000e1".into(),
        given_name: "Hana".into(),
        family_name: "Hill".into(),
        preferred_name: None,
        date_of_birth: Some("2000-01-01".into()),
        external_ref: None,
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    store
        .insert_learner(&hana, AuditDraft::new("admin", AuditAction::LearnerCreated, &hana.id, json!({})))
        .await
        .unwrap();
    let grant = ConsentRecord {
        expires_at: Some(ms(T0 + time::Duration::HOUR)),
        ..event("co-grant", &hana.id, EventKind::Granted, Giver::Learner, T0)
    };
    store
        .record_consent(
            &grant,
            None,
            AuditDraft::new("admin", AuditAction::ConsentRecorded, &hana.id, json!({})),
            at(T0),
        )
        .await
        .unwrap();
    let mut held = photo("co-held", &"c1".repeat(32), tutor);
    held.learner_ids = vec![hana.id.clone()];
    held.purposes = vec![Purpose::Website];
    held.all_tagged = false;
    let mut free = photo("co-free", &"c2".repeat(32), tutor);
    free.learner_ids = vec![hana.id.clone()];
    free.purposes = vec![Purpose::Website];
    for p in [&held, &free] {
        store
            .insert_photo(p, AuditDraft::new(tutor, AuditAction::PhotoUploaded, &p.id, json!({})), at(T0))
            .await
            .unwrap();
    }
    let minute = 60_000;

    // A held item, named by id: not available, with the reasons it is held.
    assert_eq!(
        store.claim_item("co-held:website", "erin", minute, at(T0)).await.unwrap(),
        ClaimOutcome::NotAvailable { state: State::Held, reasons: vec![Reason::UntaggedPeople] }
    );
    // An id no item has: unknown, and nothing was written.
    let before = store.table_counts().await.unwrap();
    assert_eq!(store.claim_item("co-none:website", "erin", minute, at(T0)).await.unwrap(), ClaimOutcome::Unknown);
    assert_eq!(store.claim_item("co-free:print", "erin", minute, at(T0)).await.unwrap(), ClaimOutcome::Unknown);
    assert_eq!(store.table_counts().await.unwrap(), before);

    // Someone else's running lease: not available, claimed, no reasons. Once it ran out, it is
    // anyone's again.
    let ClaimOutcome::Claimed(first) = store.claim_item("co-free:website", "dana", minute, at(T0)).await.unwrap()
    else {
        panic!("a queued item was not claimed")
    };
    assert_eq!(first.claimed_by.as_deref(), Some("dana"));
    assert_eq!(
        store.claim_item("co-free:website", "erin", minute, at(T0)).await.unwrap(),
        ClaimOutcome::NotAvailable { state: State::Claimed, reasons: vec![] }
    );
    let expired = T0 + time::Duration::minutes(1);
    let taken = store.claim_item("co-free:website", "erin", minute, at(expired)).await.unwrap().claimed().unwrap();
    assert_eq!((taken.claimed_by.as_deref(), taken.state), (Some("erin"), State::Claimed));

    // The re-check happens inside the claim: once her grant has expired (no sweep has run, so the
    // stored state is still erin's claim), the item is not available, with the expiry as reason,
    // and the re-check is kept.
    let after_expiry = T0 + time::Duration::hours(2);
    assert_eq!(store.photo("co-free").await.unwrap().unwrap().status[&Purpose::Website].state, State::Claimed);
    assert_eq!(
        store.claim_item("co-free:website", "dana", minute, at(after_expiry)).await.unwrap(),
        ClaimOutcome::NotAvailable { state: State::Held, reasons: vec![Reason::Expired] }
    );
    assert_eq!(store.photo("co-free").await.unwrap().unwrap().status[&Purpose::Website].state, State::Held);
}

/// The name index's version moves with every learner change, even two in one millisecond; an
/// import re-evaluates with the names as imported.
async fn learners_version_conformance(store: &Arc<dyn FullStore>, tutor: &str) {
    let v0 = store.learners_version().await.unwrap();
    let finn = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-0000000000f1".into(),
        given_name: "Finn".into(),
        family_name: "Fisher".into(),
        preferred_name: None,
        date_of_birth: Some("2000-01-01".into()),
        external_ref: Some("MIS-F".into()),
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    store
        .insert_learner(&finn, AuditDraft::new("admin", AuditAction::LearnerCreated, &finn.id, json!({})))
        .await
        .unwrap();
    assert_eq!(store.learners_version().await.unwrap(), v0 + 1);
    // Many ids at once (more than one batch of the IN list), one of them on record: every other
    // one comes back, in the order sent, and quotes or commas in an id are only data.
    let mut many: Vec<String> = (0..2_500).map(|i| format!("0192f0c4-0000-7000-8000-{i:012}")).collect();
    many.insert(1_234, finn.id.clone());
    many.push("x', 'y".into());
    let unknown = store.unknown_learners(&many).await.unwrap();
    let expected: Vec<String> = many.iter().filter(|id| **id != finn.id).cloned().collect();
    assert_eq!(unknown, expected);
    assert_eq!(store.unknown_learners(std::slice::from_ref(&finn.id)).await.unwrap(), Vec::<String>::new());
    assert_eq!(store.unknown_learners(&[]).await.unwrap(), Vec::<String>::new());
    // Two corrections stamped with the same millisecond both count.
    let renamed = LearnerRecord { given_name: "Fin".into(), ..finn.clone() };
    let correct = |l: &LearnerRecord| AuditDraft::new("admin", AuditAction::LearnerCorrected, &l.id, json!({}));
    assert!(store.update_learner(&renamed, correct(&renamed), at(T0)).await.unwrap());
    assert!(store.update_learner(&finn, correct(&finn), at(T0)).await.unwrap());
    assert_eq!(store.learners_version().await.unwrap(), v0 + 3);

    let grant = event("f-grant", &finn.id, EventKind::Granted, Giver::Learner, T0);
    store
        .record_consent(
            &grant,
            None,
            AuditDraft::new("admin", AuditAction::ConsentRecorded, &finn.id, json!({})),
            at(T0),
        )
        .await
        .unwrap();
    let mut p = photo("f-1", &"f1".repeat(32), tutor);
    p.learner_ids = vec![finn.id.clone()];
    p.purposes = vec![Purpose::Website];
    p.caption = "Finn with Gus Grant".into();
    let status = store
        .insert_photo(&p, AuditDraft::new(tutor, AuditAction::PhotoUploaded, "f-1", json!({})), at(T0))
        .await
        .unwrap();
    assert_eq!(status[&Purpose::Website].state, State::Queued, "nobody called Gus Grant is on record yet");
    // The import adds Gus Grant and changes Finn's date of birth, so Finn's photo is re-evaluated:
    // against the names as imported, not the index the caller had (here an empty one).
    let gus = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-0000000000f2".into(),
        given_name: "Gus".into(),
        family_name: "Grant".into(),
        external_ref: Some("MIS-G".into()),
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        ..finn.clone()
    };
    let older = LearnerRecord { date_of_birth: Some("1999-01-01".into()), ..finn.clone() };
    let rows = [older, gus];
    store.import_learners(&rows, at(T0), true, None).await.unwrap();
    assert_eq!(store.learners_version().await.unwrap(), v0 + 3, "a dry run changes nothing");
    store.import_learners(&rows, at(T0), false, None).await.unwrap();
    assert_eq!(store.learners_version().await.unwrap(), v0 + 4);
    let held = store.photo("f-1").await.unwrap().unwrap().status[&Purpose::Website].clone();
    assert_eq!((held.state, held.reasons), (State::Held, vec![Reason::NameInText]));
}

/// Browser sessions: live until their expiry, gone after sign-out or pruning, audited on opening;
/// and the listings behind the pages.
async fn session_conformance(store: &Arc<dyn FullStore>, tutor: &str) {
    let audit = || AuditDraft::new(tutor, AuditAction::SignedIn, tutor, json!({}));
    store.create_session("s1", tutor, 2_000, audit()).await.unwrap();
    store.create_session("s2", tutor, 3_000, audit()).await.unwrap();
    assert_eq!(store.session_token("s1", 1_999).await.unwrap().map(|t| t.id), Some(tutor.to_string()));
    assert!(store.session_token("s1", 2_000).await.unwrap().is_none(), "expired at its instant");
    assert!(store.session_token("nope", 0).await.unwrap().is_none());
    assert!(store.create_session("s1", tutor, 9_000, audit()).await.is_err(), "a session id is used once");
    assert!(store.create_session("s3", "no-such-token", 9_000, audit()).await.is_err(), "only for a real token");
    assert_eq!(store.prune_sessions(2_500).await.unwrap(), 1);
    assert!(store.session_token("s2", 2_500).await.unwrap().is_some());
    store.delete_session("s2").await.unwrap();
    store.delete_session("s2").await.unwrap();
    assert!(store.session_token("s2", 0).await.unwrap().is_none());
    assert_eq!(store.table_counts().await.unwrap()["sessions"], 0);
    let signed_in = store.audit_log(0, 10_000).await.unwrap().iter().filter(|r| r.action == "signed_in").count();
    assert_eq!(signed_in, 2, "each opened session is audited, the failed ones are not");

    let mine = store.photos_uploaded_by(tutor, 1_000).await.unwrap();
    assert!(!mine.is_empty());
    assert!(mine.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");
    assert!(mine.iter().all(|p| p.uploaded_by == tutor));
    assert!(store.photos_uploaded_by("someone-else", 10).await.unwrap().is_empty());
    let held = store.held_photos(1_000).await.unwrap();
    assert!(held.iter().all(|p| p.status.values().any(|s| s.state == State::Held)));
    assert!(store.items_claimed_by("nobody", 0).await.unwrap().is_empty());
}

/// Tokens listed newest first with their expiry and revocation; a revocation deletes the token's
/// sessions (and only its own) with its audit row, in one go; revoking again or an unknown id
/// changes nothing and writes nothing.
async fn revocation_conformance(store: &Arc<dyn FullStore>) {
    let created = |name: &str| AuditDraft::new("cli", AuditAction::TokenCreated, name, json!({}));
    let mut leaving = tokens::generate(Role::Marketing, "Leaving");
    leaving.record.created_at = 4_000_000_000_000;
    leaving.record.expires_at = Some(4_100_000_000_000);
    store.create_token(&leaving.record, created("leaving")).await.unwrap();
    let mut staying = tokens::generate(Role::Marketing, "Staying");
    staying.record.created_at = 4_000_000_000_001;
    store.create_token(&staying.record, created("staying")).await.unwrap();
    let listed = store.tokens().await.unwrap();
    assert_eq!(listed[0], staying.record, "newest first");
    assert_eq!(listed[1], leaving.record, "the expiry is kept");
    let session = |id: &str| AuditDraft::new(id, AuditAction::SignedIn, id, json!({}));
    for (hash, token) in [("r1", &leaving), ("r2", &leaving), ("r3", &staying)] {
        store.create_session(hash, &token.record.id, i64::MAX, session(&token.record.id)).await.unwrap();
    }
    let revoke = |id: &str| AuditDraft::new("cli", AuditAction::TokenRevoked, id, json!({}));
    let outcome = store.revoke_token(&leaving.record.id, 5_000, revoke(&leaving.record.id)).await.unwrap();
    assert_eq!(outcome, RevokeOutcome::Revoked { sessions_ended: 2 });
    assert!(
        store.session_token("r1", 0).await.unwrap().is_none() && store.session_token("r2", 0).await.unwrap().is_none()
    );
    assert_eq!(store.session_token("r3", 0).await.unwrap().map(|t| t.id), Some(staying.record.id.clone()));
    assert_eq!(store.token(&leaving.record.id).await.unwrap().unwrap().revoked_at, Some(5_000));
    let rows = store.audit_log(0, 100_000).await.unwrap();
    let last = rows.last().unwrap();
    assert_eq!((last.action.as_str(), last.subject.as_str()), ("token_revoked", leaving.record.id.as_str()));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&last.details).unwrap(), json!({ "sessions_ended": 2 }));
    let before = store.table_counts().await.unwrap();
    let again = store.revoke_token(&leaving.record.id, 6_000, revoke(&leaving.record.id)).await.unwrap();
    assert_eq!(again, RevokeOutcome::AlreadyRevoked(5_000));
    assert_eq!(store.revoke_token("nope", 6_000, revoke("nope")).await.unwrap(), RevokeOutcome::Unknown);
    assert_eq!(store.table_counts().await.unwrap(), before, "nothing written");
    assert_eq!(store.token(&leaving.record.id).await.unwrap().unwrap().revoked_at, Some(5_000));
    store.delete_session("r3").await.unwrap();
}

/// Staff accounts: one live account per address, a sign-in link works once and only in time,
/// links per window are capped, and revoking an account takes its links and unsent sign-in mail.
async fn account_conformance(store: &Arc<dyn FullStore>) {
    let now = 6_000_000_000_000;
    let mut dana = tokens::generate(Role::Marketing, "Dana Shaw").record;
    dana.email = Some("dana@college.example".into());
    let link = |hash: &str, token: &str, created_at: i64| SignInLink {
        id_hash: hash.into(),
        token_id: token.into(),
        created_at,
        expires_at: created_at + 1_000,
        used_at: None,
    };
    let letter =
        || Letter { subject: "Your sign-in link".into(), body: "https://cg.example/signin/link/x".into(), link: None };
    let mail = |token: &str| {
        OutboxMessage::to_staff(MailKind::SignIn, token, ("Dana Shaw", "dana@college.example"), letter(), now)
    };
    let audit = |id: &str| AuditDraft::new("cli", AuditAction::StaffInvited, id, json!({}));
    assert!(store.create_account(&dana, &link("l1", &dana.id, now), &mail(&dana.id), audit(&dana.id)).await.unwrap());
    assert_eq!(store.account_by_email("dana@college.example").await.unwrap(), Some(dana.clone()));
    assert_eq!(store.account_by_email("nobody@college.example").await.unwrap(), None);

    // A second account for the same address stores nothing.
    let mut twin = tokens::generate(Role::Admin, "Dana again").record;
    twin.email = dana.email.clone();
    let before = store.table_counts().await.unwrap();
    assert!(!store.create_account(&twin, &link("l2", &twin.id, now), &mail(&twin.id), audit(&twin.id)).await.unwrap());
    assert_eq!(store.table_counts().await.unwrap(), before);
    assert_eq!(store.token(&twin.id).await.unwrap(), None);

    // Staff mail is never listed with the families' letters.
    assert!(store.outbox(MailState::Pending, 100).await.unwrap().iter().all(|m| m.staff_id.is_none()));

    let signed_in = || AuditDraft::new("", AuditAction::SignedIn, "", json!({ "via": "link" }));
    // Expired: nothing happens.
    assert_eq!(store.use_sign_in_link("l1", now + 1_000, "s0", i64::MAX, signed_in()).await.unwrap(), None);
    assert!(store.session_token("s0", 0).await.unwrap().is_none());
    // In time: a session, once.
    let used = store.use_sign_in_link("l1", now + 999, "s1", i64::MAX, signed_in()).await.unwrap();
    assert_eq!(used.map(|t| t.id), Some(dana.id.clone()));
    assert_eq!(store.session_token("s1", 0).await.unwrap().map(|t| t.id), Some(dana.id.clone()));
    let last = store.audit_log(0, 100_000).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str(), last.subject.as_str()),
        ("signed_in", dana.id.as_str(), dana.id.as_str())
    );
    assert_eq!(store.use_sign_in_link("l1", now + 999, "s2", i64::MAX, signed_in()).await.unwrap(), None, "used");
    let (kept, account) = store.sign_in_link("l1").await.unwrap().unwrap();
    assert_eq!((kept.used_at, account.id), (Some(now + 999), dana.id.clone()));
    assert_eq!(store.use_sign_in_link("nope", now, "s3", i64::MAX, signed_in()).await.unwrap(), None);

    // At most `max_recent` links in the window: the invitation's counts.
    let sent = |id: &str| AuditDraft::new(id, AuditAction::SignInLinkSent, id, json!({}));
    for n in 0..2 {
        let hash = format!("more{n}");
        assert!(store
            .add_sign_in_link(&link(&hash, &dana.id, now + 10), &mail(&dana.id), now, 3, sent(&dana.id))
            .await
            .unwrap());
    }
    let before = store.table_counts().await.unwrap();
    assert!(!store
        .add_sign_in_link(&link("more2", &dana.id, now + 10), &mail(&dana.id), now, 3, sent(&dana.id))
        .await
        .unwrap());
    assert_eq!(store.table_counts().await.unwrap(), before, "over the limit: nothing stored");
    // An hour on, the window has moved.
    // A takedown notice waiting for her too: revoking must stop it, not only her links.
    let notice =
        OutboxMessage::to_staff(MailKind::TakedownOwed, &dana.id, ("Dana Shaw", "dana@college.example"), letter(), now);
    assert!(store
        .add_sign_in_link(&link("later", &dana.id, now + 20), &notice, now + 11, 3, sent(&dana.id))
        .await
        .unwrap());

    // Revoked: its links and its unsent sign-in mail go with it; the address is free again.
    let revoke = AuditDraft::new("cli", AuditAction::TokenRevoked, &dana.id, json!({}));
    assert_eq!(
        store.revoke_token(&dana.id, now + 30, revoke).await.unwrap(),
        RevokeOutcome::Revoked { sessions_ended: 1 }
    );
    assert!(store.sign_in_link("later").await.unwrap().is_none());
    assert_eq!(store.use_sign_in_link("later", now + 21, "s4", i64::MAX, signed_in()).await.unwrap(), None);
    assert!(store
        .claim_mail(i64::MAX - 1, i64::MAX, 100)
        .await
        .unwrap()
        .iter()
        .all(|m| m.staff_id.as_deref() != Some(dana.id.as_str())));
    assert_eq!(store.account_by_email("dana@college.example").await.unwrap(), None);
    assert!(!store
        .add_sign_in_link(&link("after", &dana.id, now + 40), &mail(&dana.id), now, 100, sent(&dana.id))
        .await
        .unwrap());
    let mut back = tokens::generate(Role::Marketing, "Dana Shaw").record;
    back.email = dana.email.clone();
    assert!(store.create_account(&back, &link("l9", &back.id, now), &mail(&back.id), audit(&back.id)).await.unwrap());
}

fn guardian(id: &str, name: &str) -> GuardianRecord {
    GuardianRecord { id: id.into(), name: name.into(), email: Some(format!("{id}@example.org")), removed_at: None }
}

/// Guardians added, corrected and removed (softly: a removed guardian's grant stops counting, their
/// "no" and their withdrawal link keep working, an import does not bring them back), and a grant's
/// withdrawal link issued again (the old one then names nothing). Runs last: it withdraws.
async fn guardian_conformance(store: &Arc<dyn FullStore>, tutor: &str) {
    let dana = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-0000000000a1".into(),
        given_name: "Dana".into(),
        family_name: "Doe".into(),
        preferred_name: None,
        date_of_birth: Some("2013-02-03".into()),
        external_ref: Some("MIS-GUARDIANS".into()),
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![guardian("g-ann", "Ann Doe"), guardian("g-bob", "Bob Doe")],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    let draft = |action| AuditDraft::new("admin", action, &dana.id, json!({}));
    store.insert_learner(&dana, draft(AuditAction::LearnerCreated)).await.unwrap();
    let mut p = photo("pg", &"7".repeat(64), tutor);
    p.learner_ids = vec![dana.id.clone()];
    store.insert_photo(&p, AuditDraft::new(tutor, AuditAction::PhotoUploaded, "pg", json!({})), at(T0)).await.unwrap();
    let website = move || async move { store.photo("pg").await.unwrap().unwrap().status[&Purpose::Website].clone() };

    // Added and corrected; unknown learners and guardians (or another learner's) change nothing.
    let cleo = guardian("g-cleo", "Cleo Doe");
    let added = store.add_guardian(&dana.id, &cleo, 4, ms(T0), draft(AuditAction::GuardianAdded)).await.unwrap();
    assert_eq!(added, GuardianAdded::Added);
    let nobody = guardian("g-x", "X");
    let added = store.add_guardian("nobody", &nobody, 4, ms(T0), draft(AuditAction::GuardianAdded)).await.unwrap();
    assert_eq!(added, GuardianAdded::NoLearner);
    // The cap is counted in the store: twelve additions at once to a learner with one guardian
    // leave exactly four current guardians.
    let eve = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-0000000000a2".into(),
        external_ref: Some("MIS-GUARDIAN-RACE".into()),
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![guardian("g-eve-mum", "Eve's Mum")],
        ..dana.clone()
    };
    store.insert_learner(&eve, draft(AuditAction::LearnerCreated)).await.unwrap();
    let racers: Vec<_> = (0..12)
        .map(|i| {
            let (eve, racer) = (eve.id.clone(), guardian(&format!("g-race-{i}"), &format!("Racer {i}")));
            async move { store.add_guardian(&eve, &racer, 4, ms(T0), draft(AuditAction::GuardianAdded)).await.unwrap() }
        })
        .collect();
    let outcomes = futures::future::join_all(racers).await;
    assert_eq!(outcomes.iter().filter(|o| **o == GuardianAdded::Added).count(), 3, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == GuardianAdded::Full).count(), 9, "{outcomes:?}");
    assert_eq!(store.learner(&eve.id).await.unwrap().unwrap().guardians.len(), 4);
    let corrected = GuardianRecord { name: "Cleo Doe-Smith".into(), email: None, ..cleo.clone() };
    assert!(store.correct_guardian(&dana.id, &corrected, ms(T0), draft(AuditAction::GuardianCorrected)).await.unwrap());
    let before = store.table_counts().await.unwrap();
    let amira = "0192f0c4-0000-7000-8000-00000000000a";
    assert!(!store.correct_guardian(amira, &corrected, ms(T0), draft(AuditAction::GuardianCorrected)).await.unwrap());
    assert!(store
        .remove_guardian(amira, "g-ann", draft(AuditAction::GuardianRemoved), at(T0))
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.table_counts().await.unwrap(), before, "a refused change wrote something");
    let stored = store.learner(&dana.id).await.unwrap().unwrap();
    assert_eq!(stored.guardians.len(), 3);
    assert_eq!(stored.guardians[2], corrected);

    // Ann's grant queues the website; removing her holds it again in the same call.
    let ann_yes = event("ga1", &dana.id, EventKind::Granted, Giver::Guardian("g-ann".into()), T0);
    store.record_consent(&ann_yes, Some("hash-ann"), draft(AuditAction::ConsentRecorded), at(T0)).await.unwrap();
    assert_eq!(website().await.state, State::Queued);
    let removed_at = T0 + time::Duration::MINUTE;
    let (when, changes) = store
        .remove_guardian(&dana.id, "g-ann", draft(AuditAction::GuardianRemoved), at(removed_at))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(when, ms(removed_at));
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].to.state, changes[0].to.reasons.clone()), (State::Held, vec![Reason::NoConsent]));
    let stored = store.learner(&dana.id).await.unwrap().unwrap();
    assert_eq!(stored.guardians[0].removed_at, Some(ms(removed_at)), "the row stays, marked removed");
    assert_eq!(stored.current_guardians().count(), 2);
    // Removed once only, and never corrected after.
    let before = store.table_counts().await.unwrap();
    assert!(store
        .remove_guardian(&dana.id, "g-ann", draft(AuditAction::GuardianRemoved), at(T0))
        .await
        .unwrap()
        .is_none());
    let ann = guardian("g-ann", "Ann Changed");
    assert!(!store.correct_guardian(&dana.id, &ann, ms(T0), draft(AuditAction::GuardianCorrected)).await.unwrap());
    // Her grant's link cannot be issued again (it no longer counts), but hers still withdraws.
    let reissue = |event: &str, hash: &str| {
        let (learner, event, hash) = (dana.id.clone(), event.to_string(), hash.to_string());
        let audit = draft(AuditAction::WithdrawalLinkReissued);
        async move { store.reissue_withdrawal_link(&learner, &event, &hash, audit).await.unwrap() }
    };
    assert_eq!(reissue("ga1", "hash-ann-2").await, ReissueOutcome::GuardianRemoved);
    assert_eq!(store.table_counts().await.unwrap(), before, "a refused change wrote something");

    // Bob's grant would queue it, but Ann's withdrawal through her old link holds it: a removed
    // guardian's "no" counts.
    let bob_yes =
        event("gb1", &dana.id, EventKind::Granted, Giver::Guardian("g-bob".into()), T0 + 2 * time::Duration::MINUTE);
    store
        .record_consent(
            &bob_yes,
            Some("hash-bob"),
            draft(AuditAction::ConsentRecorded),
            at(T0 + 2 * time::Duration::MINUTE),
        )
        .await
        .unwrap();
    assert_eq!(website().await.state, State::Queued);
    let outcome = store.withdraw_by_link("hash-ann", "ga2", None, at(T0 + 3 * time::Duration::MINUTE)).await.unwrap();
    assert!(matches!(outcome, WithdrawOutcome::Withdrawn { .. }), "{outcome:?}");
    assert_eq!((website().await.state, website().await.reasons), (State::Held, vec![Reason::Withdrawn]));

    // Bob's link issued again: the old hash names nothing, the new one his grant.
    let before = store.table_counts().await.unwrap();
    assert_eq!(reissue("ga2", "hash-x").await, ReissueOutcome::NotAGrant);
    assert_eq!(reissue("nope", "hash-x").await, ReissueOutcome::Unknown);
    // An event of another learner is not found through this one.
    assert_eq!(
        store
            .reissue_withdrawal_link(amira, "gb1", "hash-x", draft(AuditAction::WithdrawalLinkReissued))
            .await
            .unwrap(),
        ReissueOutcome::Unknown
    );
    assert_eq!(store.table_counts().await.unwrap(), before, "a refused re-issue wrote something");
    assert_eq!(reissue("gb1", "hash-bob-2").await, ReissueOutcome::Reissued);
    assert!(store.withdrawal_link("hash-bob").await.unwrap().is_none(), "the old link is revoked");
    assert_eq!(
        store.withdraw_by_link("hash-bob", "gb2", None, at(T0 + 4 * time::Duration::MINUTE)).await.unwrap(),
        WithdrawOutcome::Unknown
    );
    assert_eq!(store.withdrawal_link("hash-bob-2").await.unwrap().unwrap().grant.id, "gb1");
    let outcome = store.withdraw_by_link("hash-bob-2", "gb3", None, at(T0 + 5 * time::Duration::MINUTE)).await.unwrap();
    assert!(matches!(outcome, WithdrawOutcome::Withdrawn { .. }), "{outcome:?}");
    assert_eq!(reissue("gb1", "hash-bob-3").await, ReissueOutcome::AlreadyWithdrawn);
    // A grant withdrawn by its giver's own "no" (not through the link) is withdrawn too.
    let cleo_yes =
        event("gc1", &dana.id, EventKind::Granted, Giver::Guardian("g-cleo".into()), T0 + 6 * time::Duration::MINUTE);
    store
        .record_consent(&cleo_yes, None, draft(AuditAction::ConsentRecorded), at(T0 + 6 * time::Duration::MINUTE))
        .await
        .unwrap();
    // A grant recorded without a link row gets one.
    assert_eq!(reissue("gc1", "hash-cleo").await, ReissueOutcome::Reissued);
    assert_eq!(store.withdrawal_link("hash-cleo").await.unwrap().unwrap().grant.id, "gc1");
    let cleo_no =
        event("gc2", &dana.id, EventKind::Withdrawn, Giver::Guardian("g-cleo".into()), T0 + 7 * time::Duration::MINUTE);
    store
        .record_consent(&cleo_no, None, draft(AuditAction::ConsentRecorded), at(T0 + 7 * time::Duration::MINUTE))
        .await
        .unwrap();
    assert_eq!(reissue("gc1", "hash-cleo-2").await, ReissueOutcome::AlreadyWithdrawn);

    // A re-import listing Ann (in any case) leaves her removed, and says so.
    let mut file = dana.clone();
    file.id = "0192f0c4-0000-7000-8000-0000000000a2".into();
    file.guardians = vec![guardian("g-ann-again", "ANN DOE"), guardian("g-bob-again", "Bob Doe")];
    let summary = store.import_learners(&[file], at(T0 + 8 * time::Duration::MINUTE), false, None).await.unwrap();
    assert_eq!((summary.unchanged, summary.guardians_still_removed), (1, 1), "{summary:?}");
    let stored = store.learner(&dana.id).await.unwrap().unwrap();
    assert_eq!(stored.guardians.len(), 3, "nobody re-added");
    assert!(stored.guardians[0].removed_at.is_some());

    // Each change is audited, by id only.
    let rows = store.audit_log(0, 10_000).await.unwrap();
    for action in ["guardian_added", "guardian_corrected", "guardian_removed", "withdrawal_link_reissued"] {
        assert!(rows.iter().any(|r| r.action == action && r.subject == dana.id), "no {action} row");
    }
    assert!(
        rows.iter().all(|r| !r.details.contains("Doe") && !r.details.contains("hash-")),
        "a name or hash in the audit log"
    );
}

/// Deleting a photo: only while nothing outside depends on it (claimed, published, a retired
/// image's fingerprint, evidence for another's hold), everything of it in one go, audited.
async fn deletion_conformance(store: &Arc<dyn FullStore>, tutor: &str) {
    let dee = LearnerRecord {
        id: "0192f0c4-0000-7000-8000-0000000000de".into(),
        given_name: "Dee".into(),
        family_name: "Dunn".into(),
        preferred_name: None,
        date_of_birth: Some("2000-01-01".into()),
        external_ref: None,
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    store
        .insert_learner(&dee, AuditDraft::new("admin", AuditAction::LearnerCreated, &dee.id, json!({})))
        .await
        .unwrap();
    let grant = ConsentRecord {
        purposes: vec![Purpose::Website],
        ..event("d-grant", &dee.id, EventKind::Granted, Giver::Learner, T0)
    };
    store
        .record_consent(
            &grant,
            None,
            AuditDraft::new("admin", AuditAction::ConsentRecorded, &dee.id, json!({})),
            at(T0),
        )
        .await
        .unwrap();
    let insert = |p: PhotoRecord| {
        let store = store.clone();
        let tutor = tutor.to_string();
        async move {
            let audit = AuditDraft::new(&tutor, AuditAction::PhotoUploaded, &p.id, json!({}));
            store.insert_photo(&p, audit, at(T0)).await.unwrap()
        }
    };
    let delete = |id: &'static str| {
        let store = store.clone();
        async move { store.delete_photo(id, AuditDraft::new("t", AuditAction::PhotoDeleted, id, json!({}))).await.unwrap() }
    };
    let tagged = |id: &str, original: &str| PhotoRecord {
        learner_ids: vec![dee.id.clone()],
        purposes: vec![Purpose::Website],
        object_key: format!("photos/{id}.jpg"),
        ..photo(id, &original.repeat(32), tutor)
    };

    // Held and never claimed: deleted with its learners and purposes, its key handed back.
    let mut held = tagged("d-held", "d1");
    held.all_tagged = false;
    assert_eq!(insert(held.clone()).await[&Purpose::Website].state, State::Held);
    let before = store.audit_log(0, 10_000).await.unwrap().len();
    assert_eq!(delete("d-held").await, PhotoDeletion::Deleted(Some("photos/d-held.jpg".into())));
    assert_eq!(store.photo("d-held").await.unwrap(), None);
    assert_eq!(store.photo_by_original(&held.original_blake3).await.unwrap(), None);
    assert!(!store.object_keys().await.unwrap().contains(&held.object_key));
    let rows = store.audit_log(0, 10_000).await.unwrap();
    assert_eq!(rows.len(), before + 1);
    assert_eq!((rows[before].action.as_str(), rows[before].subject.as_str()), ("photo_deleted", "d-held"));
    assert_eq!(delete("d-held").await, PhotoDeletion::Missing);
    // The same picture may be uploaded again.
    insert(held).await;
    assert!(matches!(delete("d-held").await, PhotoDeletion::Deleted(Some(_))));

    // Queued is not yet out: it may go. Claimed or published, it stays.
    for id in ["d-queued", "d-claimed", "d-published"] {
        assert_eq!(insert(tagged(id, &id[2..4])).await[&Purpose::Website].state, State::Queued);
    }
    assert!(store.claim_item("d-claimed:website", "mk", 60_000, at(T0)).await.unwrap().claimed().is_some());
    assert!(matches!(
        store.publish("d-published:website", "mk", "https://x/d", "web", at(T0)).await.unwrap(),
        PublishOutcome::Published(_)
    ));
    let before = store.table_counts().await.unwrap();
    assert_eq!(delete("d-claimed").await, PhotoDeletion::Claimed);
    assert_eq!(delete("d-published").await, PhotoDeletion::Published);
    assert_eq!(store.table_counts().await.unwrap(), before, "a refused deletion changes nothing");
    assert!(matches!(delete("d-queued").await, PhotoDeletion::Deleted(Some(_))));
    assert!(store.queue(Some(Purpose::Website), ms(T0), 100).await.unwrap().iter().all(|i| i.photo_id != "d-queued"));

    // An image deleted after a no: its row is the fingerprint (q-c, from the queue suite).
    assert!(store.photo("q-c").await.unwrap().unwrap().image_deleted_at.is_some());
    assert_eq!(delete("q-c").await, PhotoDeletion::Retired);

    // Evidence for another upload's hold stays until that upload is gone.
    insert(tagged("d-ev", "e1")).await;
    let mut lookalike = tagged("d-look", "e3");
    lookalike.resembles = vec![(dee.id.clone(), "d-ev".into())];
    insert(lookalike).await;
    assert_eq!(delete("d-ev").await, PhotoDeletion::Evidence);
    assert!(matches!(delete("d-look").await, PhotoDeletion::Deleted(Some(_))));
    assert!(matches!(delete("d-ev").await, PhotoDeletion::Deleted(Some(_))));

    // Two photos stored before objects were keyed by photo share one object: it stays for the other.
    for id in ["d-s1", "d-s2"] {
        let mut shared = tagged(id, &id[3..]);
        shared.object_key = "photos/d-shared.jpg".into();
        insert(shared).await;
    }
    assert_eq!(delete("d-s1").await, PhotoDeletion::Deleted(None));
    assert_eq!(delete("d-s2").await, PhotoDeletion::Deleted(Some("photos/d-shared.jpg".into())));
}

async fn conformance(store: Arc<dyn FullStore>) {
    // Migrations are idempotent.
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    let empty = store.table_counts().await.unwrap();
    assert!(empty.values().all(|&n| n == 0), "{empty:?}");

    // Tokens.
    let t = tokens::generate(Role::Tutor, "Sam Tutor");
    store
        .create_token(&t.record, AuditDraft::new("cli", AuditAction::TokenCreated, &t.record.id, serde_json::json!({})))
        .await
        .unwrap();
    assert_eq!(store.token(&t.record.id).await.unwrap(), Some(t.record.clone()));
    assert_eq!(store.token("nope").await.unwrap(), None);
    assert_eq!(store.count_tokens(Role::Tutor).await.unwrap(), 1);
    assert_eq!(store.count_tokens(Role::Admin).await.unwrap(), 0);

    // Photos round-trip, and the original's hash is unique.
    let p = photo("p1", &"a".repeat(64), &t.record.id);
    let status = store
        .insert_photo(
            &p,
            AuditDraft::new(&t.record.id, AuditAction::PhotoUploaded, "p1", serde_json::json!({})),
            at(T0),
        )
        .await
        .unwrap();
    // Nobody tagged: held on both purposes.
    assert!(status.values().all(|s| s.state == State::Held && s.reasons == vec![Reason::NoLearnersTagged]));
    let p = PhotoRecord { status, ..p };
    assert_eq!(store.photo("p1").await.unwrap(), Some(p.clone()));
    assert_eq!(store.photo_by_original(&"a".repeat(64)).await.unwrap(), Some(p.clone()));
    assert_eq!(store.photo("p2").await.unwrap(), None);
    let before = store.table_counts().await.unwrap();
    let duplicate = photo("p2", &"a".repeat(64), &t.record.id);
    let err = store
        .insert_photo(&duplicate, AuditDraft::new("x", AuditAction::PhotoUploaded, "p2", serde_json::json!({})), at(T0))
        .await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    // A failed insert leaves no trace, not even its audit row.
    assert_eq!(store.table_counts().await.unwrap(), before);
    assert_eq!(store.object_keys().await.unwrap(), vec![p.object_key.clone()]);
    assert!(store.object_in_use(&p.object_key).await.unwrap());
    assert!(!store.object_in_use("photos/0000.jpg").await.unwrap());

    // Learners must exist to be tagged (none do yet).
    assert_eq!(store.unknown_learners(&["l1".into()]).await.unwrap(), vec!["l1".to_string()]);

    // The audit chain: concurrent appends never fork it.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.append_audit(AuditDraft::new(
                "t",
                AuditAction::TokenCreated,
                format!("s{i}"),
                serde_json::json!({"i": i}),
            ))
            .await
            .unwrap();
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

    consent_conformance(&store, &t.record.id).await;
    queue_conformance(&store, &t.record.id).await;
    session_conformance(&store, &t.record.id).await;
    claim_item_conformance(&store, &t.record.id).await;
    claim_outcome_conformance(&store, &t.record.id).await;
    learners_version_conformance(&store, &t.record.id).await;
    revocation_conformance(&store).await;
    account_conformance(&store).await;
    guardian_conformance(&store, &t.record.id).await;
    deletion_conformance(&store, &t.record.id).await;
    // Every consent event and status change was audited, and the chain still holds.
    let rows = store.audit_log(0, 1000).await.unwrap();
    verify_chain(&rows, (0, GENESIS_HASH.into())).unwrap();
    for action in [
        "status_changed",
        "consent_withdrawn",
        "item_claimed",
        "item_published",
        "takedown_owed",
        "takedown_done",
        "image_deleted",
        "photo_deleted",
    ] {
        assert!(rows.iter().any(|r| r.action == action), "no {action} row");
    }
    assert!(
        rows.iter().all(|r| !r.details.contains("Amira") && !r.details.contains("Khan")),
        "a name in the audit log"
    );
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

/// Clears the folded search column, as rows written before migration 0010 have it.
async fn forget_search_text(url: &str) {
    use sqlx::Connection;
    let sql = "UPDATE learners SET search_text = NULL";
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

/// Learner search finds every word typed, folded as the name check folds names (case, diacritics,
/// letters like Ł, apostrophes), the same way on both backends, lists by the folded name, follows
/// corrections and imports, and finds rows written before the folded column existed once
/// migrated.
async fn search_conformance(url: &str) {
    let store: Arc<dyn FullStore> = Arc::from(store::open(url).await.unwrap());
    store.migrate().await.unwrap();
    let learner = |n: u32, given: &str, family: &str, external_ref: Option<&str>| LearnerRecord {
        id: format!("0192f0c4-0000-7000-8000-{n:012}"),
        given_name: given.into(),
        family_name: family.into(),
        preferred_name: None,
        date_of_birth: Some("2000-01-01".into()),
        external_ref: external_ref.map(Into::into),
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    let created = |l: &LearnerRecord| AuditDraft::new("admin", AuditAction::LearnerCreated, &l.id, json!({}));
    let mut lukasz = learner(2, "Łukasz", "Nowak", None);
    for l in [
        learner(1, "Zoë", "O'Brien", None),
        lukasz.clone(),
        learner(3, "Emre", "ÖZTÜRK", Some("MIS-100")),
        learner(4, "Amira", "Haddad", Some("MIS_10%")),
        learner(5, "Νίκος", "Παπαδόπουλος", None),
        learner(7, "Siobhán", "Öberg", None),
    ] {
        store.insert_learner(&l, created(&l)).await.unwrap();
    }
    let search = |q: &'static str| {
        let store = store.clone();
        async move {
            let found = store.search_learners(q, 50).await.unwrap();
            found.into_iter().map(|l| l.family_name).collect::<Vec<_>>()
        }
    };
    for (query, expected) in [
        ("zoe", &["O'Brien"][..]),
        ("ZOË", &["O'Brien"]),
        ("Zoe\u{308}", &["O'Brien"]),
        ("o’brien", &["O'Brien"]),
        ("lukasz", &["Nowak"]),
        ("ŁUKASZ", &["Nowak"]),
        ("öztürk", &["ÖZTÜRK"]),
        ("ozturk", &["ÖZTÜRK"]),
        ("νίκος", &["Παπαδόπουλος"]),
        ("ΠΑΠΑΔΌΠΟΥΛΟΣ", &["Παπαδόπουλος"]),
        ("amira hadd", &["Haddad"]),
        // Every word, in any order, each anywhere in the names.
        ("Amira Haddad", &["Haddad"]),
        ("haddad, AMIRA", &["Haddad"]),
        ("Amira Nowak", &[]),
        ("obrien", &["O'Brien"]),
        ("Zoe O Brien", &["O'Brien"]),
        ("siobhan", &["Öberg"]),
        ("SIOBHAN OBERG", &["Öberg"]),
        ("mis", &["Haddad", "ÖZTÜRK"]),
        ("MIS-100", &["ÖZTÜRK"]),
        ("mis 10", &["Haddad", "ÖZTÜRK"]),
        // Punctuation alone is no word: nobody, not everybody, and no wildcard.
        ("%", &[]),
        ("_", &[]),
        ("\\", &[]),
        // Words stay apart: no match runs from one into the next.
        ("haddadmis", &[]),
        ("amirahaddad", &[]),
        // Listed by folded name: Öberg among the Os, before O'Brien.
        ("", &["Haddad", "Nowak", "Öberg", "O'Brien", "ÖZTÜRK", "Παπαδόπουλος"]),
    ] {
        assert_eq!(search(query).await, expected, "{query:?}");
    }
    assert_eq!(store.search_learners("", 2).await.unwrap().len(), 2, "the limit holds");

    // A correction is searched as corrected.
    lukasz.given_name = "Łucja".into();
    let correct = AuditDraft::new("admin", AuditAction::LearnerCorrected, &lukasz.id, json!({}));
    assert!(store.update_learner(&lukasz, correct, at(T0)).await.unwrap());
    assert_eq!(search("lucja").await, ["Nowak"]);
    assert!(search("lukasz").await.is_empty());

    // An import is searched as imported, when created and when corrected.
    let soren = learner(6, "Søren", "Møller", Some("MIS-S"));
    store.import_learners(std::slice::from_ref(&soren), at(T0), false, None).await.unwrap();
    assert_eq!(search("soren moller").await, ["Møller"]);
    let renamed = LearnerRecord { id: "ignored on update".into(), given_name: "Sóley".into(), ..soren };
    store.import_learners(&[renamed], at(T0), false, None).await.unwrap();
    assert_eq!(search("soley").await, ["Møller"]);
    assert!(search("soren").await.is_empty());

    // Rows from before migration 0010 have no folded text; migrating folds them.
    forget_search_text(url).await;
    assert!(search("zoe").await.is_empty());
    store.migrate().await.unwrap();
    assert_eq!(search("zoe").await, ["O'Brien"]);
    assert_eq!(search("").await.len(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_search_conforms() {
    let dir = tempfile::tempdir().unwrap();
    search_conformance(&format!("sqlite://{}", dir.path().join("search.db").display())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_search_conforms() {
    search_conformance(&fresh_pg_database().await).await;
}

/// A learner's own email and groups: stored with the learner, read back sorted, counted per group
/// in byte order on both backends, matched exactly (no case folding), replaced by a correction,
/// and on import kept when the file gives none and replaced when it gives some (a dry run keeps
/// nothing).
async fn groups_conformance(url: &str) {
    let store: Arc<dyn FullStore> = Arc::from(store::open(url).await.unwrap());
    store.migrate().await.unwrap();
    let learner = |n: u32, given: &str, family: &str, groups: &[&str]| LearnerRecord {
        id: format!("0192f0c4-0000-7000-8000-{n:012}"),
        given_name: given.into(),
        family_name: family.into(),
        preferred_name: None,
        date_of_birth: Some("2000-01-01".into()),
        external_ref: Some(format!("MIS-G{n}")),
        email: Some(format!("learner{n}@example.org")),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        left_on: None,
        erased_at: None,
        guardians: vec![GuardianRecord {
            id: format!("g-{n}"),
            name: "Sam Parent".into(),
            email: None,
            removed_at: None,
        }],
        created_at: ms(T0),
        updated_at: ms(T0),
    };
    let created = |l: &LearnerRecord| AuditDraft::new("admin", AuditAction::LearnerCreated, &l.id, json!({}));
    let mut zara = learner(1, "Zara", "Adams", &["alpha", "Art", "10B"]);
    let ben = learner(2, "Ben", "Young", &["10B"]);
    let amy = learner(3, "Amy", "Young", &["10B", "10b"]);
    for l in [&zara, &ben, &amy] {
        store.insert_learner(l, created(l)).await.unwrap();
    }
    let read = store.learner(&zara.id).await.unwrap().unwrap();
    assert_eq!(read.groups, ["10B", "Art", "alpha"], "sorted by bytes on read");
    assert_eq!(read.email.as_deref(), Some("learner1@example.org"));
    assert_eq!(store.search_learners("zara", 5).await.unwrap()[0].groups, read.groups);
    let counts = |pairs: &[(&str, i64)]| pairs.iter().map(|(g, n)| (g.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(store.groups().await.unwrap(), counts(&[("10B", 3), ("10b", 1), ("Art", 1), ("alpha", 1)]));
    let in_group = |group: &'static str| {
        let store = store.clone();
        async move {
            let found = store.learners_in_group(group).await.unwrap();
            assert!(found.iter().all(|l| l.guardians.len() == 1 && l.groups.iter().any(|g| g == group)));
            found.into_iter().map(|l| l.given_name).collect::<Vec<_>>()
        }
    };
    assert_eq!(in_group("10B").await, ["Zara", "Amy", "Ben"], "by family, then given name");
    assert_eq!(in_group("10b").await, ["Amy"], "exact: no case folding");
    assert!(in_group("10").await.is_empty());
    assert!(in_group("Nobody's group").await.is_empty());

    // A correction replaces the set and the email; an empty set clears it.
    zara.groups = vec!["Art".into(), "Drama".into()];
    zara.email = None;
    let correct = |l: &LearnerRecord| AuditDraft::new("admin", AuditAction::LearnerCorrected, &l.id, json!({}));
    assert!(store.update_learner(&zara, correct(&zara), at(T0)).await.unwrap());
    let read = store.learner(&zara.id).await.unwrap().unwrap();
    assert_eq!((read.groups.clone(), read.email.clone()), (vec!["Art".to_string(), "Drama".into()], None));
    assert_eq!(in_group("10B").await, ["Amy", "Ben"]);
    let cleared = LearnerRecord { groups: vec![], ..ben.clone() };
    assert!(store.update_learner(&cleared, correct(&cleared), at(T0)).await.unwrap());
    assert!(store.learner(&ben.id).await.unwrap().unwrap().groups.is_empty());
    assert_eq!(store.groups().await.unwrap(), counts(&[("10B", 1), ("10b", 1), ("Art", 1), ("Drama", 1)]));

    // Import: no email and no groups keep those on record (unchanged); given ones replace them.
    let file = |l: &LearnerRecord, email: Option<&str>, groups: &[&str]| LearnerRecord {
        id: "ignored on update".into(),
        email: email.map(Into::into),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        left_on: None,
        erased_at: None,
        guardians: vec![],
        ..l.clone()
    };
    let summary = store.import_learners(&[file(&amy, None, &[])], at(T0), false, None).await.unwrap();
    assert_eq!((summary.updated, summary.unchanged), (0, 1));
    let read = store.learner(&amy.id).await.unwrap().unwrap();
    assert_eq!((read.groups, read.email), (vec!["10B".to_string(), "10b".into()], amy.email.clone()));
    let before = store.table_counts().await.unwrap();
    let changed = [file(&amy, Some("amy@example.org"), &["Year 11"]), file(&zara, None, &["Drama", "Art"])];
    let dry = store.import_learners(&changed, at(T0), true, None).await.unwrap();
    assert_eq!(store.table_counts().await.unwrap(), before, "a dry run stores nothing");
    assert_eq!(store.learner(&amy.id).await.unwrap().unwrap().groups, ["10B", "10b"]);
    let done = store.import_learners(&changed, at(T0), false, None).await.unwrap();
    assert_eq!(dry, done, "the dry run's summary is exact");
    assert_eq!((done.updated, done.unchanged), (1, 1), "the same groups in another order are no change");
    let read = store.learner(&amy.id).await.unwrap().unwrap();
    assert_eq!((read.groups, read.email.as_deref()), (vec!["Year 11".to_string()], Some("amy@example.org")));
    let audit = store.audit_log(0, 1000).await.unwrap();
    let last = audit.iter().rev().find(|r| r.action == "learner_corrected" && r.subject == amy.id).unwrap();
    let details: serde_json::Value = serde_json::from_str(&last.details).unwrap();
    assert_eq!(details["fields"], json!(["learner_email", "groups"]));
    assert!(!last.details.contains("amy@") && !last.details.contains("Year 11"), "{}", last.details);
    // A new learner from a file comes with their groups.
    let new = learner(4, "Cara", "Bell", &["Year 11"]);
    store.import_learners(std::slice::from_ref(&new), at(T0), false, None).await.unwrap();
    assert_eq!(in_group("Year 11").await, ["Cara", "Amy"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_groups_conform() {
    let dir = tempfile::tempdir().unwrap();
    groups_conformance(&format!("sqlite://{}", dir.path().join("groups.db").display())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_groups_conform() {
    groups_conformance(&fresh_pg_database().await).await;
}
