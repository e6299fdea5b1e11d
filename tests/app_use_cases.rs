//! The use cases driven directly, without HTTP: on SQLite and local files, an `App` is made as
//! `serve` makes it and each use case is called with an actor, checking its typed outcome or
//! `AppError`. One test also sends requests through the router in memory (`tower::ServiceExt`),
//! to show the adapter maps those outcomes to statuses.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use consentgate::app::consents::{LinkPreview, LinkWithdrawal, NewConsent};
use consentgate::app::photos::{PhotoEdit, Rendition, Upload, Uploaded};
use consentgate::app::queue::ClaimOutcome;
use consentgate::app::{access, consents, learners, photos, queue, Actor, App, AppError};
use consentgate::http::{self, HttpState};
use consentgate::objects::Objects;
use consentgate::policy::consent::EventKind;
use consentgate::policy::{Purpose, Reason, State};
use consentgate::service;
use consentgate::store::Role;
use tower::ServiceExt;

/// An application on a fresh SQLite database and data directory, and its admin.
struct Fixture {
    app: App,
    admin: Actor,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut settings =
            common::server::settings(common::server::Db::Sqlite, common::server::Blobs::Fs, dir.path().join("data"))
                .await;
        settings.public_url = "https://photos.example.org".into();
        let store = service::open_store(&settings).await.unwrap();
        let objects = Objects::open(&settings).unwrap();
        let app = App::new(store, objects, settings);
        let admin = Fixture::actor_in(&app, Role::Admin).await;
        Fixture { app, admin, _dir: dir }
    }

    /// A new token of `role`, as the actor it authenticates.
    async fn actor_in(app: &App, role: Role) -> Actor {
        let token = access::create_token(app.store.as_ref(), role, "someone", "test").await.unwrap();
        access::authenticate(app, &token).await.unwrap().expect("a new token authenticates")
    }

    async fn actor(&self, role: Role) -> Actor {
        Fixture::actor_in(&self.app, role).await
    }

    /// An adult learner; returns their id.
    async fn adult(&self, given: &str) -> String {
        let new = learners::NewLearner {
            given_name: given.into(),
            family_name: "Appcase".into(),
            date_of_birth: Some("1990-01-01".into()),
            ..Default::default()
        };
        learners::create(&self.app, &self.admin, new).await.unwrap().id
    }

    /// The learner's own grant for `purposes`; returns the withdrawal link's token.
    async fn grant(&self, learner: &str, purposes: &[Purpose]) -> String {
        let recorded =
            consents::record(&self.app, &self.admin, learner, own(EventKind::Granted, purposes)).await.unwrap();
        let url = recorded.withdraw_url.expect("a grant has a withdrawal link");
        url.rsplit('/').next().unwrap().to_string()
    }
}

/// A consent given by the learner themself, with its proof.
fn own(kind: EventKind, purposes: &[Purpose]) -> NewConsent {
    NewConsent {
        kind: Some(kind),
        purposes: purposes.to_vec(),
        given_by: "learner".into(),
        form_version: "v1".into(),
        form_text: Some("I agree to photos of me being used".into()),
        method: "online_form".into(),
        evidence: "form 12".into(),
        ..Default::default()
    }
}

fn upload_of(seed: u32, learners: &[&str], caption: &str) -> Upload {
    Upload {
        file: common::fixtures::varied_jpeg(seed).into(),
        caption: caption.into(),
        learner_ids: learners.iter().map(|l| l.to_string()).collect(),
        all_tagged: true,
        purposes: vec![Purpose::Website],
        ..Default::default()
    }
}

fn created(uploaded: Uploaded) -> photos::ShownPhoto {
    match uploaded {
        Uploaded::Created(shown) => shown,
        Uploaded::Existing(_) => panic!("expected a new photo"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_are_checked_stored_once_and_answered_by_outcome() {
    let f = Fixture::new().await;
    let (tutor, other_tutor, marketing) =
        (f.actor(Role::Tutor).await, f.actor(Role::Tutor).await, f.actor(Role::Marketing).await);
    let amira = f.adult("Amira").await;

    let refused = photos::upload(&f.app, &marketing, upload_of(1, &[&amira], "")).await;
    assert!(matches!(refused, Err(AppError::Forbidden { .. })), "{refused:?}");

    let ghost = "0192f0c4-4b1e-7c3a-9d2e-1234567890ab";
    let unknown = photos::upload(&f.app, &tutor, upload_of(1, &[ghost], "")).await;
    assert!(
        matches!(&unknown, Err(AppError::UnknownLearners { named, more: 0 }) if named == &[ghost.to_string()]),
        "{unknown:?}"
    );

    let first = created(photos::upload(&f.app, &tutor, upload_of(1, &[&amira], "Robotics day")).await.unwrap());
    assert_eq!(first.photo.status[&Purpose::Website].state, State::Held, "no consent yet");

    // The same bytes and form from the same tutor: the photo already made (a phone's retry).
    let again = photos::upload(&f.app, &tutor, upload_of(1, &[&amira], "Robotics day")).await.unwrap();
    assert!(matches!(&again, Uploaded::Existing(shown) if shown.photo.id == first.photo.id));
    // The same bytes with another caption: a conflict naming the photo to edit.
    match photos::upload(&f.app, &tutor, upload_of(1, &[&amira], "Another caption")).await {
        Err(AppError::Conflict { code: "duplicate_upload", detail: Some(detail), .. }) => {
            assert_eq!(detail["photo_id"], first.photo.id.as_str())
        }
        other => panic!("expected a duplicate_upload conflict, got {other:?}"),
    }
    // Another tutor learns that it exists, never which photo it is.
    let theirs = photos::upload(&f.app, &other_tutor, upload_of(1, &[&amira], "Robotics day")).await;
    assert!(matches!(theirs, Err(AppError::Conflict { code: "duplicate_upload", detail: None, .. })), "{theirs:?}");
    // Nor may they see or edit it.
    let shown = photos::show(&f.app, &other_tutor, &first.photo.id).await;
    assert!(matches!(shown, Err(AppError::NotFound("photo"))), "{shown:?}");

    // A caption naming her in full is found, and the redaction keeps her first name.
    let edit = PhotoEdit { caption: Some("Amira Appcase wins".into()), ..Default::default() };
    let edited = photos::edit(&f.app, &tutor, &first.photo.id, edit).await.unwrap();
    assert_eq!(edited.name_check.matches.len(), 1);
    assert_eq!(edited.name_check.matches[0].learner_id, amira);
    let redacted = photos::edit(&f.app, &tutor, &first.photo.id, PhotoEdit::accept_redaction()).await.unwrap();
    assert_eq!(redacted.photo.caption, "Amira wins");
    assert!(redacted.name_check.matches.is_empty());
    let nothing = photos::edit(&f.app, &tutor, &first.photo.id, PhotoEdit::default()).await;
    assert!(matches!(nothing, Err(AppError::Invalid { .. })), "{nothing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_is_validated_before_anything_is_recorded() {
    let f = Fixture::new().await;
    let amira = f.adult("Amira").await;
    let child = learners::create(
        &f.app,
        &f.admin,
        learners::NewLearner {
            given_name: "Ben".into(),
            family_name: "Appcase".into(),
            date_of_birth: Some("2015-05-05".into()),
            guardians: vec![("Carol Appcase".into(), None)],
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // A guardian of another learner has no say over this one.
    let by_stranger = NewConsent {
        given_by: "guardian".into(),
        guardian_id: Some(child.guardians[0].id.clone()),
        ..own(EventKind::Granted, &[Purpose::Website])
    };
    let refused = consents::record(&f.app, &f.admin, &amira, by_stranger).await;
    assert!(matches!(refused, Err(AppError::NotAGuardian)), "{refused:?}");

    let future = NewConsent { given_at: Some("2999-01-01T00:00:00Z".into()), ..own(EventKind::Granted, &[]) };
    let refused = consents::record(&f.app, &f.admin, &amira, future).await;
    assert!(matches!(&refused, Err(AppError::Invalid { field: Some(f), .. }) if f == "purposes"), "{refused:?}");
    let future =
        NewConsent { given_at: Some("2999-01-01T00:00:00Z".into()), ..own(EventKind::Granted, &[Purpose::Print]) };
    let refused = consents::record(&f.app, &f.admin, &amira, future).await;
    assert!(matches!(&refused, Err(AppError::Invalid { field: Some(f), .. }) if f == "given_at"), "{refused:?}");
    let expiring_no =
        NewConsent { expires_at: Some("2030-01-01".into()), ..own(EventKind::Refused, &[Purpose::Print]) };
    let refused = consents::record(&f.app, &f.admin, &amira, expiring_no).await;
    assert!(matches!(&refused, Err(AppError::Invalid { field: Some(f), .. }) if f == "expires_at"), "{refused:?}");
    let tutor = f.actor(Role::Tutor).await;
    let refused = consents::record(&f.app, &tutor, &amira, own(EventKind::Granted, &[Purpose::Print])).await;
    assert!(matches!(refused, Err(AppError::Forbidden { .. })), "{refused:?}");

    assert!(consents::history(&f.app, &f.admin, &amira).await.unwrap().events.is_empty(), "nothing recorded");
    f.grant(&amira, &[Purpose::Print]).await;
    let history = consents::history(&f.app, &f.admin, &amira).await.unwrap();
    assert_eq!(history.events.len(), 1);
    assert!(matches!(history.decisions[&Purpose::Print], consentgate::policy::consent::Decision::Allow { .. }));
    assert!(matches!(history.decisions[&Purpose::Website], consentgate::policy::consent::Decision::Deny { .. }));

    let bad = learners::import_csv(
        f.app.store.as_ref(),
        b"given_name\nAmira\n",
        "test",
        Default::default(),
        Default::default(),
    )
    .await;
    assert!(matches!(&bad, Err(AppError::BadLines(lines)) if !lines.is_empty()), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn from_the_queue_to_a_withdrawal_and_its_takedown() {
    let f = Fixture::new().await;
    let (tutor, marketing, colleague) =
        (f.actor(Role::Tutor).await, f.actor(Role::Marketing).await, f.actor(Role::Marketing).await);
    let amira = f.adult("Amira").await;
    let link = f.grant(&amira, &[Purpose::Website]).await;
    let photo = created(photos::upload(&f.app, &tutor, upload_of(7, &[&amira], "Robotics day")).await.unwrap()).photo;
    assert_eq!(photo.status[&Purpose::Website].state, State::Queued);

    let listed = queue::list(&f.app, &marketing, Some(Purpose::Website)).await.unwrap();
    assert_eq!(listed.iter().map(|i| i.photo_id.as_str()).collect::<Vec<_>>(), [photo.id.as_str()]);
    let item = listed[0].item_id.clone();

    let bad_lease = queue::claim(&f.app, &marketing, Purpose::Website, Some(&item), Some(0)).await;
    assert!(matches!(&bad_lease, Err(AppError::Invalid { field: Some(f), .. }) if f == "lease_seconds"));
    let wrong_purpose = queue::claim(&f.app, &marketing, Purpose::Print, Some(&item), None).await;
    assert!(matches!(wrong_purpose, Err(AppError::Invalid { .. })), "{wrong_purpose:?}");
    match queue::claim(&f.app, &marketing, Purpose::Website, Some(&item), None).await.unwrap() {
        ClaimOutcome::Claimed(claimed) => assert_eq!(claimed.item_id, item),
        other => panic!("expected a claim, got {other:?}"),
    }
    // The colleague finds it taken, with its state; and nothing else is left for the purpose.
    match queue::claim(&f.app, &colleague, Purpose::Website, Some(&item), None).await {
        Ok(ClaimOutcome::NotAvailable { status: Some((state, _)) }) => assert_eq!(state, State::Claimed),
        other => panic!("expected not_available with the state, got {other:?}"),
    }
    let left = queue::claim(&f.app, &colleague, Purpose::Website, None, None).await.unwrap();
    assert!(matches!(left, ClaimOutcome::NothingLeft), "{left:?}");

    let bad_url = queue::publish(&f.app, &marketing, &item, "ftp://example.org/x", "website").await;
    assert!(matches!(&bad_url, Err(AppError::Invalid { field: Some(f), .. }) if f == "url"));
    let published = queue::publish(&f.app, &marketing, &item, "https://example.org/news/1", "website").await.unwrap();
    assert_eq!(published.state, State::Published);
    let image = photos::image(&f.app, &marketing, &photo.id, Rendition::Original).await.unwrap();
    assert_eq!(image.mime, "image/jpeg");
    assert!(image.file_name.starts_with(&photo.id), "never the uploaded name: {}", image.file_name);

    // She withdraws through her link: the image is deleted and marketing owes a takedown.
    assert!(matches!(consents::preview_link(&f.app, &link).await.unwrap(), LinkPreview::Usable(_)));
    match consents::withdraw_by_link(&f.app, &link, None).await.unwrap() {
        LinkWithdrawal::Withdrawn { first_name, purposes, kept, adult_decides } => {
            assert_eq!(first_name, "Amira");
            assert_eq!(purposes, [Purpose::Website]);
            assert!(kept.is_empty(), "nothing of the grant is left: {kept:?}");
            assert!(!adult_decides, "her own withdrawal counts");
        }
        other => panic!("expected a withdrawal, got {other:?}"),
    }
    assert!(matches!(consents::withdraw_by_link(&f.app, &link, None).await.unwrap(), LinkWithdrawal::Used(_)));
    assert!(matches!(consents::preview_link(&f.app, "not-a-token").await.unwrap(), LinkPreview::Unknown));
    let gone = photos::image(&f.app, &f.admin, &photo.id, Rendition::Original).await;
    assert!(matches!(gone, Err(AppError::ImageDeleted)), "{gone:?}");
    let not_released = photos::image(&f.app, &marketing, &photo.id, Rendition::Web).await;
    assert!(matches!(&not_released, Err(AppError::NotReleased { reasons }) if reasons.contains(&Reason::Withdrawn)));

    let owed = queue::takedowns(&f.app, &marketing, false).await.unwrap();
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].url, "https://example.org/news/1");
    // A second report of a publication, after the withdrawal, owes its own takedown at once.
    let late = queue::publish(&f.app, &colleague, &item, "https://example.org/social/2", "instagram").await;
    assert!(matches!(&late, Err(AppError::TakedownOwed { reasons }) if reasons.contains(&Reason::Withdrawn)));
    let desk = queue::desk(&f.app, &marketing, None).await.unwrap();
    assert_eq!(desk.takedowns.len(), 2);
    assert!(desk.takedowns.iter().all(|t| !t.image_exists && t.caption == "Robotics day"));
    for t in &desk.takedowns {
        queue::takedown_done(&f.app, &marketing, &t.takedown.id).await.unwrap();
    }
    let twice = queue::takedown_done(&f.app, &marketing, &desk.takedowns[0].takedown.id).await;
    assert!(matches!(twice, Err(AppError::NotFound(_))), "{twice:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_sessions() {
    let f = Fixture::new().await;
    let token = access::create_token(f.app.store.as_ref(), Role::Tutor, "Tess", "test").await.unwrap();
    let actor = access::authenticate(&f.app, &token).await.unwrap().unwrap();
    assert_eq!(actor.role, Role::Tutor);
    assert!(access::authenticate(&f.app, &format!("{token}x")).await.unwrap().is_none(), "a wrong secret");
    assert!(access::authenticate(&f.app, "cg_nonsense").await.unwrap().is_none());

    let secret = "ab".repeat(32);
    assert!(access::sign_in(&f.app, "not a token", &secret).await.unwrap().is_none());
    let holder = access::sign_in(&f.app, &token, &secret).await.unwrap().unwrap();
    assert_eq!((holder.actor.clone(), holder.name.as_str()), (actor.clone(), "Tess"));
    assert_eq!(access::session(&f.app, &secret).await.unwrap().map(|h| h.actor), Some(actor.clone()));
    access::sign_out(&f.app, &actor, &consentgate::tokens::hash_secret(&secret)).await.unwrap();
    assert!(access::session(&f.app, &secret).await.unwrap().is_none());
    let actions: Vec<String> = f.app.store.audit_log(0, 100).await.unwrap().into_iter().map(|r| r.action).collect();
    assert!(actions.ends_with(&["signed_in".to_string(), "signed_out".to_string()]), "{actions:?}");
}

/// The router, in memory: the adapter turns typed outcomes into statuses and JSON errors.
#[tokio::test(flavor = "multi_thread")]
async fn the_router_maps_outcomes_to_statuses() {
    let f = Fixture::new().await;
    let token = access::create_token(f.app.store.as_ref(), Role::Marketing, "Mo", "test").await.unwrap();
    let router = http::router(HttpState::new(f.app.clone(), service::metrics_handle()));
    let call = |request: Request<Body>| {
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default())
        }
    };
    let (status, body) = call(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = call(Request::get("/api/v1/queue").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
    let claim = Request::post("/api/v1/queue/claim")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"purpose":"website"}"#))
        .unwrap();
    let (status, _) = call(claim).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "ClaimOutcome::NothingLeft");
    let claim = Request::post("/api/v1/queue/claim")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"purpose":"website","item":"0192f0c4-4b1e-7c3a-9d2e-1234567890ab:website"}"#))
        .unwrap();
    let (status, body) = call(claim).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("not_available")));
    assert!(body.get("detail").is_none(), "an item that never existed says nothing more");
    let learners = Request::get("/api/v1/learners").header("authorization", format!("Bearer {token}"));
    let (status, body) = call(learners.body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
}
