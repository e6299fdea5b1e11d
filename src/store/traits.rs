//! What a backend provides, one trait per area, and [`FullStore`], the bound the service holds a
//! store by.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::audit::{AuditDraft, AuditRecord, AuditSearch};
use super::error::StoreError;
use super::records::{
    ClaimOutcome, ConsentRecord, ConsentToRecord, ErasureStart, Evaluation, FormTemplate, GuardianAdded,
    GuardianRecord, ImportSummary, LearnerRecord, PhotoDeletion, PhotoRecord, PublicationRecord, PublishOutcome,
    QueueItem, ReissueOutcome, RetentionCandidate, RetentionDue, RetiredImage, RevokeOutcome, Role, SignInLink,
    StatusChange, Takedown, TakedownNotice, TokenRecord, TombstoneOutcome, WithdrawOutcome, WithdrawalLink,
};
use super::requests::{
    AnswerOutcome, DueReminder, MailState, NewRequest, OutboxMessage, RecipientView, RequestAnswer, RequestCreated,
    RequestLink, RequestRecord,
};
use crate::policy::{Purpose, PurposeStatus, Reason};

/// Schema and health: what start-up, `/health` and tests need, whatever the area.
#[async_trait]
pub trait OpsStore: Send + Sync {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Row counts of every table, for health checks and tests.
    async fn table_counts(&self) -> Result<BTreeMap<String, i64>, StoreError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// API tokens and the browser sessions that act as them: who the caller is.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new token and audits its creation.
    async fn create_token(&self, token: &TokenRecord, audit: AuditDraft) -> Result<(), StoreError>;
    /// Finds a token by its public id.
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// How many tokens have `role` (revoked and expired ones too: "has an admin ever existed").
    async fn count_tokens(&self, role: Role) -> Result<i64, StoreError>;
    /// Every token, newest first (secret hashes included: callers show none of them).
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes a token at `at_ms` and deletes every browser session opened with it, with its
    /// audit row, in one transaction. A token revoked already is left as it is (no audit row).
    async fn revoke_token(&self, id: &str, at_ms: i64, audit: AuditDraft) -> Result<RevokeOutcome, StoreError>;
    /// Stores a staff account (a token with an email) with its first sign-in link and the
    /// invitation carrying it, audited, in one transaction; `false`, storing nothing, when a live
    /// account has this email already.
    async fn create_account(
        &self,
        account: &TokenRecord,
        link: &SignInLink,
        mail: &OutboxMessage,
        audit: AuditDraft,
    ) -> Result<bool, StoreError>;
    /// The live (not revoked) account with this lower-cased email.
    async fn account_by_email(&self, email: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Stores a sign-in link for a live account and the mail carrying it, audited, in one
    /// transaction; `false`, storing nothing, when the account is not live or `max_recent` links
    /// were made for it since `since` (Unix ms): a sign-in page cannot be used to flood an inbox.
    async fn add_sign_in_link(
        &self,
        link: &SignInLink,
        mail: &OutboxMessage,
        since: i64,
        max_recent: i64,
        audit: AuditDraft,
    ) -> Result<bool, StoreError>;
    /// The sign-in link with this hash, with its account.
    async fn sign_in_link(&self, id_hash: &str) -> Result<Option<(SignInLink, TokenRecord)>, StoreError>;
    /// Uses a sign-in link: marks it used and opens a session (`session_hash` until
    /// `session_expires`) acting as its account, audited (actor and target set to the account),
    /// in one transaction. `None`, changing nothing, when the link is unknown, used, expired at
    /// `now`, or its account is revoked or expired.
    async fn use_sign_in_link(
        &self,
        id_hash: &str,
        now: i64,
        session_hash: &str,
        session_expires: i64,
        audit: AuditDraft,
    ) -> Result<Option<TokenRecord>, StoreError>;
    /// Opens a browser session acting as `token_id` until `expires_at` (Unix ms); `id_hash` is the
    /// blake3 of the cookie's secret. Audited in the same transaction.
    async fn create_session(
        &self,
        id_hash: &str,
        token_id: &str,
        expires_at: i64,
        audit: AuditDraft,
    ) -> Result<(), StoreError>;
    /// The token a live session acts as; `None` when it is unknown or ran out at `now_ms`.
    async fn session_token(&self, id_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError>;
    /// Ends a session (sign-out); ending one that does not exist is not an error.
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Forgets sessions that ran out before `now_ms`; returns how many.
    async fn prune_sessions(&self, now_ms: i64) -> Result<u64, StoreError>;
}

/// Learners and their guardians. Every change bumps the learners' version (the name index follows
/// it) and re-evaluates the learner's photos, since a date of birth decides whose consent counts.
#[async_trait]
pub trait LearnerStore: Send + Sync {
    /// Stores a learner with their guardians and groups and audits it. [`StoreError::Conflict`]
    /// when the external reference is already used.
    async fn insert_learner(&self, learner: &LearnerRecord, audit: AuditDraft) -> Result<(), StoreError>;
    /// Replaces a learner's own fields, their email and their set of groups (not guardians),
    /// re-evaluates every photo of theirs (a date of birth decides whose consent counts) and audits
    /// it; `false` when there is no such learner.
    async fn update_learner(
        &self,
        learner: &LearnerRecord,
        audit: AuditDraft,
        eval: Evaluation,
    ) -> Result<bool, StoreError>;
    /// Imports learners matched by external reference, all or nothing: a new reference is created;
    /// a known one has its names replaced, and its date of birth, preferred name, email and groups
    /// only when the file gives them (a blank cell keeps what is on record: `None`, or no groups;
    /// groups given replace the set on record) and gains the guardians it lacks
    /// (matched by name, ignoring case; none is ever removed: that is a safeguarding decision for a
    /// person). A leaving day follows the same rule as the date of birth. Learners on record with
    /// an external reference, not left, whom the file does not list are counted
    /// (`not_in_file`), and marked left on `missing_left_on` when it is given. Photos of changed
    /// learners are re-evaluated. On a dry run the same work is done and rolled back, so the
    /// summary is exact.
    async fn import_learners(
        &self,
        learners: &[LearnerRecord],
        eval: Evaluation,
        dry_run: bool,
        missing_left_on: Option<&str>,
    ) -> Result<ImportSummary, StoreError>;
    /// Adds a guardian to the learner `learner_id` and audits it, unless there is no such learner
    /// or they already have `max_current` guardians not removed (counted in the same transaction).
    /// Consent is unchanged: a new guardian has said nothing yet.
    async fn add_guardian(
        &self,
        learner_id: &str,
        guardian: &GuardianRecord,
        max_current: usize,
        at: i64,
        audit: AuditDraft,
    ) -> Result<GuardianAdded, StoreError>;
    /// Replaces a guardian's name and email and audits it; `false` when the learner has no such
    /// guardian, or they were removed.
    async fn correct_guardian(
        &self,
        learner_id: &str,
        guardian: &GuardianRecord,
        at: i64,
        audit: AuditDraft,
    ) -> Result<bool, StoreError>;
    /// Marks a guardian removed (the row stays: their refusals and withdrawals keep counting, their
    /// grants stop), audits it and re-evaluates every photo of the learner (and the look-alikes held
    /// for them) in the same transaction; returns when (Unix ms) and what changed. `None` when the learner has no such guardian, or they were
    /// removed already.
    async fn remove_guardian(
        &self,
        learner_id: &str,
        guardian_id: &str,
        audit: AuditDraft,
        eval: Evaluation,
    ) -> Result<Option<(i64, Vec<StatusChange>)>, StoreError>;
    /// Finds a learner with their guardians (removed ones too, with `removed_at`).
    async fn learner(&self, id: &str) -> Result<Option<LearnerRecord>, StoreError>;
    /// Learners whose given, preferred or family name or external reference contains `query`
    /// (case-insensitive), ordered by family then given name.
    async fn search_learners(&self, query: &str, limit: i64) -> Result<Vec<LearnerRecord>, StoreError>;
    /// Every group with how many learners are in it, sorted by name (byte order, the same on both
    /// backends).
    async fn groups(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// The learners in the group named exactly `group` (as stored: no case folding), with their
    /// guardians, ordered by family then given name.
    async fn learners_in_group(&self, group: &str) -> Result<Vec<LearnerRecord>, StoreError>;
    /// The ids among `ids` that name no learner on record.
    async fn unknown_learners(&self, ids: &[String]) -> Result<Vec<String>, StoreError>;
    /// The learners table's version: a counter bumped in the same transaction as every learner
    /// insert, update and import, so it moves on every change whatever the clocks say; the name
    /// index is rebuilt when it moves.
    async fn learners_version(&self) -> Result<i64, StoreError>;
    /// Every learner's names, for the name index.
    async fn learner_names(&self) -> Result<Vec<crate::policy::names::NameEntry>, StoreError>;
}

/// Photos: their facts, tags and purposes, with a status per purpose evaluated as they are
/// written.
#[async_trait]
pub trait PhotoStore: Send + Sync {
    /// Stores a photo with its learners and purposes, evaluates its status and audits it, in one
    /// transaction. [`StoreError::Conflict`] when a photo with the same original already exists.
    async fn insert_photo(
        &self,
        photo: &PhotoRecord,
        audit: AuditDraft,
        eval: Evaluation,
    ) -> Result<BTreeMap<Purpose, PurposeStatus>, StoreError>;
    /// Replaces a photo's caption, alt text, learners, `all_tagged` and purposes, re-evaluates it
    /// and audits it, in one transaction; `false` when there is no such photo. A learner untagged
    /// while their refusal or withdrawal stands for one of its purposes is recorded as blocking it
    /// (held `matches_withdrawn` for them while their no stands), so untagging never releases it:
    /// the rule is [`crate::policy::consent::untag_blocks`].
    async fn update_photo(&self, photo: &PhotoRecord, audit: AuditDraft, eval: Evaluation) -> Result<bool, StoreError>;
    /// Deletes a photo nothing outside consentgate depends on (see [`PhotoDeletion`]), with its
    /// learners, purposes and blocks, and appends `audit`, in one transaction under the chain
    /// lock, so a claim or a publication racing it either comes first and stops it or finds no
    /// photo.
    async fn delete_photo(&self, id: &str, audit: AuditDraft) -> Result<PhotoDeletion, StoreError>;
    /// Finds a photo by id.
    async fn photo(&self, id: &str) -> Result<Option<PhotoRecord>, StoreError>;
    /// Finds the photo uploaded from exactly these original bytes.
    async fn photo_by_original(&self, original_blake3: &str) -> Result<Option<PhotoRecord>, StoreError>;
    /// `(photo id, perceptual hash, learner id)` for every photo of a learner with a refusal or
    /// withdrawal on record: what a new upload is compared with.
    async fn photos_of_learners_who_said_no(&self) -> Result<Vec<(String, String, String)>, StoreError>;
    /// The photos `token_id` uploaded, newest first.
    async fn photos_uploaded_by(&self, token_id: &str, limit: i64) -> Result<Vec<PhotoRecord>, StoreError>;
    /// Photos with at least one purpose held, newest first.
    async fn held_photos(&self, limit: i64) -> Result<Vec<PhotoRecord>, StoreError>;
}

/// Consent events, withdrawal links, and re-evaluation as time passes: every change of consent
/// re-evaluates the learner's photos (and the look-alikes held for them) in its own transaction.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Records a consent event (and, for a grant, its withdrawal link's token hash), re-evaluates
    /// every photo of the learner and audits both, in one transaction.
    async fn record_consent(
        &self,
        event: &ConsentRecord,
        link_token_hash: Option<&str>,
        audit: AuditDraft,
        eval: Evaluation,
    ) -> Result<Vec<StatusChange>, StoreError>;
    /// A learner's consent history, oldest first.
    async fn consents(&self, learner_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// The withdrawal link with this token hash.
    async fn withdrawal_link(&self, token_hash: &str) -> Result<Option<WithdrawalLink>, StoreError>;
    /// Gives the grant `event_id` of the learner `learner_id` a new withdrawal link: its row takes
    /// the new token's hash (so the old token names nothing any more) and the change is audited,
    /// in one transaction under the chain lock, so a link used meanwhile is seen. Refused for an
    /// event of another learner, a refusal or withdrawal, a grant withdrawn already, and a grant
    /// of a removed guardian (see [`ReissueOutcome`]).
    async fn reissue_withdrawal_link(
        &self,
        learner_id: &str,
        event_id: &str,
        token_hash: &str,
        audit: AuditDraft,
    ) -> Result<ReissueOutcome, StoreError>;
    /// Uses a withdrawal link: records a `withdrawn` event by the grant's giver for `purposes`
    /// (those of them the link still withdraws; `None`: all it still withdraws), re-evaluates every
    /// photo of the learner and audits it all, in one transaction. The link is marked used once
    /// nothing of the grant is left to withdraw; until then it withdraws the rest. A used link
    /// changes nothing.
    async fn withdraw_by_link(
        &self,
        token_hash: &str,
        new_event_id: &str,
        purposes: Option<&[Purpose]>,
        eval: Evaluation,
    ) -> Result<WithdrawOutcome, StoreError>;
    /// Records several consent events in one transaction under the chain lock, as
    /// [`ConsentStore::record_consent`] records one: all or none. Refused (`Conflict`, nothing
    /// written) when a learner was erased, or a grant's guardian removed, since it was checked.
    async fn record_consents(
        &self,
        entries: &[ConsentToRecord],
        eval: Evaluation,
    ) -> Result<Vec<Vec<StatusChange>>, StoreError>;
    /// Saves a consent form template with its words (kept in `form_texts` once per hash) and
    /// appends `audit`, in one transaction; `false` and nothing written when its version is taken.
    async fn save_form_template(&self, template: &FormTemplate, audit: AuditDraft) -> Result<bool, StoreError>;
    /// The templates, oldest first; retired ones too when `with_retired`.
    async fn form_templates(&self, with_retired: bool) -> Result<Vec<FormTemplate>, StoreError>;
    /// One template, retired or not.
    async fn form_template(&self, id: &str) -> Result<Option<FormTemplate>, StoreError>;
    /// Retires a template from the list at `at` and appends `audit`; `false` when there is no
    /// such template or it was retired already (nothing written).
    async fn retire_form_template(&self, id: &str, at: i64, audit: AuditDraft) -> Result<bool, StoreError>;
    /// Re-evaluates the given photos now, storing and auditing what changed.
    async fn reevaluate(&self, photo_ids: &[String], eval: Evaluation) -> Result<Vec<StatusChange>, StoreError>;
    /// Ids of photos with a purpose whose status can still change with time (held or queued),
    /// after `after` in id order, at most `limit`: the periodic sweep pages through them.
    async fn live_photo_ids(&self, after: &str, limit: i64) -> Result<Vec<String>, StoreError>;
}

/// Marketing's queue: listing, claims under a lease, publications and the takedowns they owe, and
/// the download check. Every claim, publication and download re-checks consent at its moment.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// The queue: items `queued` (or `claimed` with a lease that ran out, see
    /// [`crate::policy::release::effective_state`]) for `purpose` (all when `None`), oldest first.
    async fn queue(&self, purpose: Option<Purpose>, now_ms: i64, limit: i64) -> Result<Vec<QueueItem>, StoreError>;
    /// Leases one particular item (chosen from the grid) to `claimant`, after checking its rules
    /// again in the same transaction and applying the claim guard
    /// ([`crate::policy::release::claimable`]). [`ClaimOutcome::NotAvailable`] carries the status
    /// the re-check left it in (committed: an item that no longer passes leaves the queue);
    /// [`ClaimOutcome::Unknown`] when no item has this id.
    async fn claim_item(
        &self,
        item_id: &str,
        claimant: &str,
        lease_ms: i64,
        eval: Evaluation,
    ) -> Result<ClaimOutcome, StoreError>;
    /// Leases the oldest releasable item for `purpose` to `claimant` for `lease_ms`. Each candidate
    /// is re-evaluated first in the same transaction; one that no longer passes leaves the queue and
    /// the next is tried. `None` when nothing is left.
    async fn claim(
        &self,
        purpose: Purpose,
        claimant: &str,
        lease_ms: i64,
        eval: Evaluation,
    ) -> Result<Option<QueueItem>, StoreError>;
    /// Records one publication of an item (where and on which channel), always: after the
    /// reporter's lease ran out, while someone else holds the item, or on a second channel. When
    /// the item may not go out at this moment, a takedown is owed for it at once.
    async fn publish(
        &self,
        item_id: &str,
        claimant: &str,
        url: &str,
        channel: &str,
        eval: Evaluation,
    ) -> Result<PublishOutcome, StoreError>;
    /// Re-evaluates a photo and answers whether marketing may have its image now: some item of it
    /// is queued, claimed or published, and the image still exists. `Err` reasons when not.
    async fn released_for_download(
        &self,
        photo_id: &str,
        eval: Evaluation,
    ) -> Result<Result<(), Vec<Reason>>, StoreError>;
    /// Takedowns, open ones only unless `all`, oldest first.
    async fn takedowns(&self, all: bool) -> Result<Vec<Takedown>, StoreError>;
    /// Extends `claimant`'s running claim of an item to `until` (Unix ms) with its audit row; `false`,
    /// changing nothing, when the item is not claimed by them or its lease ran out at `now`.
    async fn extend_claim(
        &self,
        item_id: &str,
        claimant: &str,
        now: i64,
        until: i64,
        audit: AuditDraft,
    ) -> Result<bool, StoreError>;
    /// The publications `publisher` recorded, newest first, at most `limit`.
    async fn publications_by(&self, publisher: &str, limit: i64) -> Result<Vec<PublicationRecord>, StoreError>;
    /// One takedown, done or not.
    async fn takedown(&self, id: &str) -> Result<Option<Takedown>, StoreError>;
    /// Marks a takedown done, and its item `taken_down` once every publication of it is down;
    /// `false` when there is no such open one.
    async fn takedown_done(&self, id: &str, eval: Evaluation) -> Result<bool, StoreError>;
    /// The items `claimant` holds under a lease still running at `now_ms`, oldest claim first.
    async fn items_claimed_by(&self, claimant: &str, now_ms: i64) -> Result<Vec<QueueItem>, StoreError>;
    /// The items whose claim by `claimant` ran out (at `now_ms`, and no earlier than `since_ms`)
    /// with nobody claiming them since, and that were not recorded as published: the officer may
    /// have published them anyway, and a publication never recorded could never be taken down.
    /// Newest first, at most `limit`.
    async fn lapsed_claims_of(
        &self,
        claimant: &str,
        now_ms: i64,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<QueueItem>, StoreError>;
}

/// Image deletion ("retirement": the row and fingerprints stay, the image goes) after a "no", and
/// the object references the orphan sweep checks. Which images go is decided by
/// [`crate::policy::retention::image_unusable`]; every other photo of byte-identical scrubbed
/// content (a "twin": the same picture uploaded again with other metadata) goes with it, in the
/// same transaction, so the picture cannot survive under another photo's id.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// After a "no" from `learner_id`: marks deleted the image of every photo they are tagged in
    /// that no purpose can use any more (each is held by a tagged learner's refusal or withdrawal),
    /// and of every twin of one, keeping the rows and fingerprints; each is audited `image_deleted`
    /// (a twin with `twin_of`). Look-alikes held for them are kept (held, not deleted): the
    /// perceptual match is fuzzy, a twin's bytes are not. Returns the images retired whose objects
    /// no live photo refers to, for the caller to delete.
    async fn retire_images_of(&self, learner_id: &str, eval: Evaluation) -> Result<Vec<RetiredImage>, StoreError>;
    /// The same rule over every photo that existed when a learner tagged in it said no, and every
    /// live twin of an image already retired, a page at a time (ids after `after`, at most `limit`
    /// looked at): the periodic pass that catches a retirement that failed after a withdrawal,
    /// without deleting a photo tagged by mistake later. Returns the images retired and the last id
    /// looked at (`None` when done).
    async fn retire_unusable_images(
        &self,
        after: &str,
        limit: i64,
        eval: Evaluation,
    ) -> Result<(Vec<RetiredImage>, Option<String>), StoreError>;
    /// The photos whose image `due` makes due (images still kept only), at most `limit`: for a
    /// never-released photo oldest upload first, for a leaver's photo earliest leaving day first.
    /// Read-only: what the retention preview shows.
    async fn retention_candidates(&self, due: &RetentionDue, limit: i64)
        -> Result<Vec<RetentionCandidate>, StoreError>;
    /// Marks deleted the images of at most `limit` photos `due` makes due, chosen again inside the
    /// transaction (a photo released or a leaving day corrected meanwhile is spared), each
    /// re-evaluated first (a leaver's photo still queued leaves the queue; a publication stands)
    /// and audited `image_deleted` with the rule's name. A rule concerns each photo alone: twins
    /// are not taken along. Returns the images retired whose objects no live photo refers to, for
    /// the caller to delete, with how many images were retired (fewer than `limit`: none is left).
    async fn retire_due(
        &self,
        due: &RetentionDue,
        limit: i64,
        eval: Evaluation,
    ) -> Result<(usize, Vec<RetiredImage>), StoreError>;
    /// The photos `learner_id` is tagged in whose image is still kept, oldest first, at most
    /// `limit`: the images their erasure deletes. Read-only: what the retention preview shows.
    async fn kept_images_picturing(&self, learner_id: &str, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Every object key a photo row refers to.
    async fn object_keys(&self) -> Result<Vec<String>, StoreError>;
    /// Whether any photo row whose image is not deleted refers to the object `key`.
    async fn object_in_use(&self, key: &str) -> Result<bool, StoreError>;
}

/// Consent requests: their recipients and links, answers from the online form, reminders, and
/// what the maintenance loop asks for by itself (renewals, 18th birthdays). Every message a change
/// causes is queued in the outbox in the change's own transaction.
#[async_trait]
pub trait RequestStore: Send + Sync {
    /// Stores a request with its form text (kept once per hash), recipients, links and messages,
    /// and audits it, in one transaction. [`RequestCreated::Duplicate`] (nothing stored) when a
    /// renewal of the same grant or the same learner's request at 18 exists already.
    async fn create_request(&self, new: &NewRequest, audit: AuditDraft) -> Result<RequestCreated, StoreError>;
    /// The request link with this token hash, with what its form shows.
    async fn request_link(&self, token_hash: &str) -> Result<Option<RequestLink>, StoreError>;
    /// Records an answer given through the link `token_hash`: its events, the grant's withdrawal
    /// link, the recipient marked answered, the confirmation queued, the learner's photos (and
    /// the look-alikes held for them) re-evaluated and the answer audited, in one transaction
    /// under the chain lock. A recipient who answered already changes nothing.
    async fn answer_request(
        &self,
        token_hash: &str,
        answer: &RequestAnswer,
        audit: AuditDraft,
        eval: Evaluation,
    ) -> Result<AnswerOutcome, StoreError>;
    /// Recipients still waiting for an answer whose last message was queued at or before
    /// `sent_before`, with fewer than `max_reminders` reminders, whose request is still open at
    /// `now`, and for whose learner nobody else on the same request has answered; at most
    /// `limit`, oldest message first.
    async fn due_reminders(
        &self,
        sent_before: i64,
        max_reminders: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DueReminder>, StoreError>;
    /// Queues a reminder for the recipient `recipient_id` with a new link to the same form, unless
    /// another replica queued one since `reminders_sent` was read (then `false`, nothing stored).
    async fn queue_reminder(
        &self,
        recipient_id: &str,
        reminders_sent: i64,
        token_hash: &str,
        message: &OutboxMessage,
        audit: AuditDraft,
    ) -> Result<bool, StoreError>;
    /// Grants that expire after `now` and at or before `before`, with no renewal request yet;
    /// at most `limit`, soonest expiry first.
    async fn grants_to_renew(&self, now: i64, before: i64, limit: i64) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Ids of learners with an email address, born after `born_after` and on or before
    /// `born_by` (`YYYY-MM-DD`), who have not had their own request at 18; at most `limit`.
    async fn learners_due_adult_request(
        &self,
        born_after: &str,
        born_by: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// Requests, newest first, at most `limit`.
    async fn requests(&self, limit: i64) -> Result<Vec<RequestRecord>, StoreError>;
    /// One request.
    async fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError>;
    /// A request's recipients with the names the admin pages show, by learner.
    async fn recipients(&self, request_id: &str) -> Result<Vec<RecipientView>, StoreError>;
    /// Every recipient row of the learners `learner_ids` (for coverage), oldest request first.
    async fn recipients_of(
        &self,
        learner_ids: &[String],
    ) -> Result<Vec<(RequestRecord, super::requests::RecipientRecord)>, StoreError>;
}

/// The mail outbox, shared by every replica: a sender leases due rows, so no row is sent by two
/// senders at once, and a sender's death only delays its rows until the lease runs out.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` pending messages due at `now` whose lease (if any) has run out, until
    /// `lease_until`, counting an attempt on each; oldest due first. On PostgreSQL rows another
    /// replica is leasing at this moment are skipped (`FOR UPDATE SKIP LOCKED`).
    async fn claim_mail(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Marks a message delivered at `at` and empties its body and link.
    async fn mail_delivered(&self, id: &str, at: i64) -> Result<(), StoreError>;
    /// Releases a message after a temporary failure, to be tried again at `next_attempt_at`.
    async fn mail_retry(&self, id: &str, next_attempt_at: i64, error: &str) -> Result<(), StoreError>;
    /// Marks a message failed for good at `at` (a family's body stays: it can still be posted; a
    /// staff message's is emptied).
    async fn mail_failed(&self, id: &str, at: i64, error: &str) -> Result<(), StoreError>;
    /// Families' messages in `state`, oldest first, at most `limit` (staff mail is never listed:
    /// its sign-in links would let the reader act as someone else).
    async fn outbox(&self, state: MailState, limit: i64) -> Result<Vec<OutboxMessage>, StoreError>;
    /// One family's message.
    async fn outbox_message(&self, id: &str) -> Result<Option<OutboxMessage>, StoreError>;
    /// How many messages are pending.
    async fn outbox_depth(&self) -> Result<i64, StoreError>;
    /// Marks a pending or failed message posted as a letter at `at`, empties its body and link and
    /// audits it; `false` when there is no such message waiting.
    async fn mark_posted(&self, id: &str, at: i64, audit: AuditDraft) -> Result<bool, StoreError>;
}

/// Erasure of a learner's personal data: a durable mark, then a tombstone written in one
/// transaction, then the old values overwritten on disk. Each step can run again.
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Marks the learner's erasure as under way with `reason` and audits it, unless it is under
    /// way or done already (then nothing is written and the answer says when).
    async fn begin_erasure(
        &self,
        learner_id: &str,
        reason: &str,
        audit: AuditDraft,
    ) -> Result<ErasureStart, StoreError>;
    /// The learners whose erasure is under way and not finished, for the maintenance loop.
    async fn erasures_under_way(&self) -> Result<Vec<String>, StoreError>;
    /// Learners not erased (nor being erased) who left on or before `left_by` (ISO 8601), with their
    /// leaving day, earliest first, at most `limit`: whom `learner_record_after_leaving` erases.
    async fn leavers_left_by(&self, left_by: &str, limit: i64) -> Result<Vec<(String, String)>, StoreError>;
    /// For a learner marked for erasure, in one transaction: their names taken out of the texts of
    /// every photo they are pictured in (every word of them) and of any other photo (their full
    /// name), publications included; their record, guardians and consent evidence replaced by a
    /// tombstone; their groups left; messages to them and their family emptied (pending ones
    /// never sent); the learners' version bumped (the name index is rebuilt); audited
    /// `learner_erased` with counts only. Their id, tags, consent events and the photos' hashes
    /// stay. Writing a tombstone again changes nothing.
    async fn tombstone_learner(&self, learner_id: &str, eval: Evaluation) -> Result<TombstoneOutcome, StoreError>;
    /// Makes what erasure replaced gone from disk, not only from the tables: SQLite runs with
    /// `secure_delete` (freed space is overwritten) and here checkpoints its write-ahead log and
    /// truncates it (older page versions in it go); PostgreSQL vacuums the tables erasure writes
    /// (dead row versions go). Safe to run at any time.
    async fn reclaim_erased_space(&self) -> Result<(), StoreError>;
}

/// What a subject access export reads, beyond the other areas' reads.
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// Ids of the photos a learner is pictured in, oldest upload first.
    async fn photos_picturing(&self, learner_id: &str) -> Result<Vec<String>, StoreError>;
    /// Every publication of a photo, oldest first.
    async fn publications_of(&self, photo_id: &str) -> Result<Vec<PublicationRecord>, StoreError>;
    /// Every takedown owed for a photo, done or not, oldest first.
    async fn takedowns_of(&self, photo_id: &str) -> Result<Vec<Takedown>, StoreError>;
    /// The words of a form, by their blake3, when they are on record (a request's form; a paper
    /// form's words are kept on paper, only their hash here).
    async fn form_text(&self, hash: &str) -> Result<Option<String>, StoreError>;
    /// Audit rows whose subject is one of `subjects`, with `seq > after`, oldest first, at most
    /// `limit`.
    async fn audit_about(&self, subjects: &[String], after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError>;
}

/// The audit chain: every write that matters appends to it in its own transaction; these are for
/// events with no other write, and for reading and verifying it.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends one audit row, chained to the last.
    async fn append_audit(&self, audit: AuditDraft) -> Result<(), StoreError>;
    /// The last audit row's sequence number and hash (`0` and the genesis hash when empty).
    async fn audit_head(&self) -> Result<(i64, String), StoreError>;
    /// Audit rows with `seq > after`, oldest first, at most `limit`.
    async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError>;
    /// Audit rows matching `search`, newest first.
    async fn audit_search(&self, search: &AuditSearch) -> Result<Vec<AuditRecord>, StoreError>;
}

/// What marketing and the safeguarding leads are emailed about open takedowns: each notice once.
#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Open takedowns whose "owed" notice was not sent, and those owed since before
    /// `overdue_before` (Unix ms) whose "overdue" notice was not, oldest first, at most `limit`.
    async fn takedown_notices_due(
        &self,
        overdue_before: i64,
        limit: i64,
    ) -> Result<Vec<(Takedown, TakedownNotice)>, StoreError>;
    /// Marks the `notice` of the open takedown `id` sent at `at` and queues `mails` with its audit
    /// row, in one transaction; `false`, changing nothing, when it was sent already (by another
    /// replica) or the takedown is done.
    async fn record_takedown_notice(
        &self,
        id: &str,
        notice: TakedownNotice,
        at: i64,
        mails: &[OutboxMessage],
        audit: AuditDraft,
    ) -> Result<bool, StoreError>;
}

/// Everything a backend provides: the bound the service holds its store by (`Arc<dyn FullStore>`).
/// Implemented for every type that implements each area's trait; bring the area traits into scope
/// with [`prelude`] to call them.
pub trait FullStore:
    OpsStore
    + TokenStore
    + LearnerStore
    + PhotoStore
    + ConsentStore
    + QueueStore
    + RetentionStore
    + ErasureStore
    + ExportStore
    + AuditStore
    + RequestStore
    + OutboxStore
    + NoticeStore
    + Send
    + Sync
    + 'static
{
}

impl<T> FullStore for T where
    T: OpsStore
        + TokenStore
        + LearnerStore
        + PhotoStore
        + ConsentStore
        + QueueStore
        + RetentionStore
        + ErasureStore
        + ExportStore
        + AuditStore
        + RequestStore
        + OutboxStore
        + NoticeStore
        + Send
        + Sync
        + 'static
{
}
