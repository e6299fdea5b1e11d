//! Learners and their guardians (admins only): add one, correct one, find them, import the MIS
//! export. A change to anyone's names or date of birth changes what the name check and the consent
//! rules say about photos, so each re-evaluates what it affects.

use super::{input, statuses, Actor, App, AppError};
use crate::policy::consent::Rules;
use crate::policy::zone::Zone;
use crate::roster::{self, fields};
use crate::store::{
    now_ms, AuditAction, AuditDraft, Evaluation, FullStore, GuardianAdded, GuardianRecord, ImportSummary,
    LearnerRecord, Role, StatusChange, StoreError,
};

/// Who may see and change learners, their consent, and import them: safeguarding leads only.
pub const MANAGERS: &[Role] = &[Role::Admin];
/// Who may pick the learners pictured (by first name and initial): tutors and safeguarding leads.
pub const PICKERS: &[Role] = &[Role::Tutor, Role::Admin];

/// A new learner as given: names, date of birth and guardians, before any check.
#[derive(Debug, Clone, Default)]
pub struct NewLearner {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// The name they go by, when different.
    pub preferred_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// The MIS's reference.
    pub external_ref: Option<String>,
    /// The learner's own email address (blank means none).
    pub email: Option<String>,
    /// Groups (classes, courses, cohorts), under the rules of [`fields::groups`].
    pub groups: Vec<String>,
    /// The day they left, `YYYY-MM-DD`, when they have (or will on that day).
    pub left_on: Option<String>,
    /// Guardians: name and email.
    pub guardians: Vec<(String, Option<String>)>,
}

/// A correction: only the fields that are `Some` change; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct LearnerCorrection {
    /// New given name.
    pub given_name: Option<String>,
    /// New family name.
    pub family_name: Option<String>,
    /// New (or cleared) preferred name.
    pub preferred_name: Option<Option<String>>,
    /// New (or cleared) date of birth.
    pub date_of_birth: Option<Option<String>>,
    /// New (or cleared) MIS reference.
    pub external_ref: Option<Option<String>>,
    /// New (or cleared) email address of the learner's own.
    pub email: Option<Option<String>>,
    /// The learner's groups: the set on record is replaced by this one (empty clears it).
    pub groups: Option<Vec<String>>,
    /// New (or cleared) leaving day: clearing it releases their photos for new use again, as the
    /// rules allow.
    pub left_on: Option<Option<String>>,
}

fn checked<T>(result: Result<T, String>) -> Result<T, AppError> {
    result.map_err(AppError::invalid)
}

/// A date of birth, not after today in the organisation's `zone`.
fn date_of_birth(value: &str, zone: Zone) -> Result<String, AppError> {
    checked(fields::date_of_birth(value, zone.date_of(time::OffsetDateTime::now_utc())))
}

/// The learner's own email address, blamed on `learner_email` as the API and the file name it.
fn learner_email(value: Option<&str>) -> Result<Option<String>, AppError> {
    fields::email(value)
        .map_err(|_| AppError::invalid_field("learner_email", "learner_email is not a valid email address"))
}

/// A learner's groups, checked and normalised as the MIS import does.
fn checked_groups(values: &[String]) -> Result<Vec<String>, AppError> {
    fields::groups("groups", values.iter().map(String::as_str)).map_err(|e| AppError::invalid_field("groups", e))
}

/// The external reference is the one learner field the database keeps unique.
fn taken_reference(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict(_) => AppError::conflict("conflict", "another learner has this external_ref"),
        other => other.into(),
    }
}

/// Adds a learner with their guardians.
pub async fn create(app: &App, actor: &Actor, new: NewLearner) -> Result<LearnerRecord, AppError> {
    actor.require(MANAGERS)?;
    if new.guardians.len() > roster::MAX_GUARDIANS {
        return Err(AppError::invalid(format!("at most {} guardians", roster::MAX_GUARDIANS)));
    }
    let guardians = new
        .guardians
        .iter()
        .map(|(name, email)| {
            Ok(GuardianRecord {
                id: uuid::Uuid::now_v7().to_string(),
                name: checked(fields::name("guardian name", name))?,
                email: checked(fields::email(email.as_deref()))?,
                removed_at: None,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let now = now_ms();
    let learner = LearnerRecord {
        id: uuid::Uuid::now_v7().to_string(),
        given_name: checked(fields::name("given_name", &new.given_name))?,
        family_name: checked(fields::name("family_name", &new.family_name))?,
        preferred_name: checked(fields::optional_name("preferred_name", new.preferred_name.as_deref()))?,
        date_of_birth: new.date_of_birth.as_deref().map(|d| date_of_birth(d, app.settings.rules.zone)).transpose()?,
        external_ref: checked(fields::optional_name("external_ref", new.external_ref.as_deref()))?,
        email: learner_email(new.email.as_deref())?,
        groups: checked_groups(&new.groups)?,
        left_on: new.left_on.as_deref().map(|d| checked(fields::left_on("left_on", d))).transpose()?,
        erased_at: None,
        guardians,
        created_at: now,
        updated_at: now,
    };
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::LearnerCreated,
        &learner.id,
        serde_json::json!({ "guardians": learner.guardians.len() }),
    );
    app.store.insert_learner(&learner, audit).await.map_err(taken_reference)?;
    statuses::refresh_statuses_soon(app);
    Ok(learner)
}

/// A learner with their guardians, by an id as given in a path. Not audited: for use cases that
/// go on to act on the learner (and audit that); a person reading the record goes through [`read`].
pub async fn show(app: &App, actor: &Actor, id: &str) -> Result<LearnerRecord, AppError> {
    actor.require(MANAGERS)?;
    let id = input::path_id(id, "learner")?;
    app.store.learner(&id).await?.ok_or(AppError::NotFound("learner"))
}

/// A learner who may still be changed: [`show`], refused (409 `learner_erased`) once their
/// personal data was erased, since their record is a tombstone that only keeps their id.
pub async fn show_live(app: &App, actor: &Actor, id: &str) -> Result<LearnerRecord, AppError> {
    let learner = show(app, actor, id).await?;
    if learner.erased_at.is_some() {
        return Err(AppError::conflict(
            "learner_erased",
            "this learner's personal data was erased: their record cannot be changed or added to",
        ));
    }
    Ok(learner)
}

/// A learner's record as a person reads it (`GET /api/v1/learners/{id}`): [`show`], audited as
/// `learner_read`, since it is a child's personal data leaving the service.
pub async fn read(app: &App, actor: &Actor, id: &str) -> Result<LearnerRecord, AppError> {
    let learner = show(app, actor, id).await?;
    let audit = AuditDraft::new(&actor.token_id, AuditAction::LearnerRead, &learner.id, serde_json::json!({}));
    app.store.append_audit(audit).await?;
    Ok(learner)
}

/// Corrects a learner's own fields (not guardians); every photo of theirs is re-evaluated in the
/// same transaction, since a date of birth decides whose consent counts.
pub async fn correct(
    app: &App,
    actor: &Actor,
    id: &str,
    correction: LearnerCorrection,
) -> Result<LearnerRecord, AppError> {
    let mut learner = show_live(app, actor, id).await?;
    let mut changed = Vec::new();
    if let Some(v) = &correction.given_name {
        learner.given_name = checked(fields::name("given_name", v))?;
        changed.push("given_name");
    }
    if let Some(v) = &correction.family_name {
        learner.family_name = checked(fields::name("family_name", v))?;
        changed.push("family_name");
    }
    if let Some(v) = &correction.preferred_name {
        learner.preferred_name = checked(fields::optional_name("preferred_name", v.as_deref()))?;
        changed.push("preferred_name");
    }
    if let Some(v) = &correction.date_of_birth {
        learner.date_of_birth = v.as_deref().map(|d| date_of_birth(d, app.settings.rules.zone)).transpose()?;
        changed.push("date_of_birth");
    }
    if let Some(v) = &correction.external_ref {
        learner.external_ref = checked(fields::optional_name("external_ref", v.as_deref()))?;
        changed.push("external_ref");
    }
    // The email and groups count as changed only when they differ, as a guardian's fields do: the
    // learner's page sends both with every save.
    let mut same_again = false;
    if let Some(v) = &correction.email {
        let email = learner_email(v.as_deref())?;
        if email != learner.email {
            learner.email = email;
            changed.push("learner_email");
        } else {
            same_again = true;
        }
    }
    if let Some(v) = &correction.groups {
        let groups = checked_groups(v)?;
        if groups != learner.groups {
            learner.groups = groups;
            changed.push("groups");
        } else {
            same_again = true;
        }
    }
    if let Some(v) = &correction.left_on {
        let left_on = v.as_deref().map(|d| checked(fields::left_on("left_on", d))).transpose()?;
        if left_on != learner.left_on {
            learner.left_on = left_on;
            changed.push("left_on");
        } else {
            same_again = true;
        }
    }
    if changed.is_empty() {
        if same_again {
            // The same values again (a form saved unchanged): nothing to write or audit.
            return Ok(learner);
        }
        return Err(AppError::invalid("the patch changes nothing"));
    }
    learner.updated_at = now_ms();
    // The audit names which fields changed, never their values: names stay out of the log.
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::LearnerCorrected,
        &learner.id,
        serde_json::json!({ "fields": changed }),
    );
    let eval = app.evaluation(&actor.token_id).await?;
    if !app.store.update_learner(&learner, audit, eval).await.map_err(taken_reference)? {
        return Err(AppError::NotFound("learner"));
    }
    statuses::refresh_statuses_soon(app);
    Ok(learner)
}

/// A correction of a guardian: only the fields that are `Some` change; `Some(None)` clears the
/// email.
#[derive(Debug, Clone, Default)]
pub struct GuardianCorrection {
    /// New full name.
    pub name: Option<String>,
    /// New (or cleared) email address.
    pub email: Option<Option<String>>,
}

/// What removing a guardian did.
#[derive(Debug, Clone)]
pub struct RemovedGuardian {
    /// The guardian, with `removed_at` set.
    pub guardian: GuardianRecord,
    /// The statuses that changed because their grants stopped counting.
    pub changes: Vec<StatusChange>,
}

/// The learner `learner_id` and their guardian `guardian_id` (ids as given in a path); a guardian
/// of another learner is not found, like an unknown one.
async fn guardian_of(
    app: &App,
    actor: &Actor,
    learner_id: &str,
    guardian_id: &str,
) -> Result<(LearnerRecord, GuardianRecord), AppError> {
    let learner = show_live(app, actor, learner_id).await?;
    let guardian_id = input::path_id(guardian_id, "guardian")?;
    let guardian =
        learner.guardians.iter().find(|g| g.id == guardian_id).cloned().ok_or(AppError::NotFound("guardian"))?;
    if guardian.removed_at.is_some() {
        return Err(AppError::conflict("guardian_removed", "this guardian was removed; a removal is not undone"));
    }
    Ok((learner, guardian))
}

/// Adds a guardian to a learner (at most [`roster::MAX_GUARDIANS`] who are not removed). Nothing is
/// re-evaluated: a new guardian has not consented to anything yet.
pub async fn add_guardian(
    app: &App,
    actor: &Actor,
    learner_id: &str,
    name: &str,
    email: Option<&str>,
) -> Result<GuardianRecord, AppError> {
    let learner = show_live(app, actor, learner_id).await?;
    let guardian = GuardianRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name: checked(fields::name("name", name))?,
        email: checked(fields::email(email))?,
        removed_at: None,
    };
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::GuardianAdded,
        &learner.id,
        serde_json::json!({ "guardian": guardian.id }),
    );
    // The cap is counted by the store under its lock: a count read here could be passed by
    // additions running at the same time.
    match app.store.add_guardian(&learner.id, &guardian, roster::MAX_GUARDIANS, now_ms(), audit).await? {
        GuardianAdded::Added => Ok(guardian),
        GuardianAdded::NoLearner => Err(AppError::NotFound("learner")),
        GuardianAdded::Full => Err(AppError::invalid(format!(
            "a learner can have at most {} guardians; remove one first",
            roster::MAX_GUARDIANS
        ))),
    }
}

/// Corrects a guardian's name or email (a removed guardian is not corrected: 409
/// `guardian_removed`). Consent is unchanged: the guardian is the same person. A later import
/// matches guardians by name and never overwrites an email, so a correction stays.
pub async fn correct_guardian(
    app: &App,
    actor: &Actor,
    learner_id: &str,
    guardian_id: &str,
    correction: GuardianCorrection,
) -> Result<GuardianRecord, AppError> {
    let (learner, mut guardian) = guardian_of(app, actor, learner_id, guardian_id).await?;
    if correction.name.is_none() && correction.email.is_none() {
        return Err(AppError::invalid("the patch changes nothing"));
    }
    let mut changed = Vec::new();
    if let Some(name) = &correction.name {
        let name = checked(fields::name("name", name))?;
        if name != guardian.name {
            guardian.name = name;
            changed.push("name");
        }
    }
    if let Some(email) = &correction.email {
        let email = checked(fields::email(email.as_deref()))?;
        if email != guardian.email {
            guardian.email = email;
            changed.push("email");
        }
    }
    if changed.is_empty() {
        // The same values again (a form saved unchanged): nothing to write or audit.
        return Ok(guardian);
    }
    // Ids and field names only: a guardian's name and email stay out of the log.
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::GuardianCorrected,
        &learner.id,
        serde_json::json!({ "guardian": guardian.id, "fields": changed }),
    );
    if !app.store.correct_guardian(&learner.id, &guardian, now_ms(), audit).await? {
        // Removed (or gone) between the read and the write.
        return Err(AppError::conflict("guardian_removed", "this guardian was removed; a removal is not undone"));
    }
    Ok(guardian)
}

/// Removes a guardian: the row stays, marked removed. Their grants stop counting and their
/// refusals and withdrawals keep counting (a "no" on record is never erased by removing whoever
/// gave it); the withdrawal links they hold still withdraw. Every photo of the learner is
/// re-evaluated in the same transaction.
pub async fn remove_guardian(
    app: &App,
    actor: &Actor,
    learner_id: &str,
    guardian_id: &str,
) -> Result<RemovedGuardian, AppError> {
    let (learner, mut guardian) = guardian_of(app, actor, learner_id, guardian_id).await?;
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::GuardianRemoved,
        &learner.id,
        serde_json::json!({ "guardian": guardian.id }),
    );
    let eval = app.evaluation(&actor.token_id).await?;
    let Some((at, changes)) = app.store.remove_guardian(&learner.id, &guardian.id, audit, eval).await? else {
        return Err(AppError::conflict("guardian_removed", "this guardian was removed already"));
    };
    guardian.removed_at = Some(at);
    Ok(RemovedGuardian { guardian, changes })
}

/// Longest search text, in characters.
pub const MAX_QUERY: usize = fields::MAX_NAME;

/// Learners whose names or reference contain `query` (case-insensitive), at most `limit` (clamped
/// to 1..=500); an empty query lists everyone in name order.
pub async fn search(app: &App, actor: &Actor, query: &str, limit: i64) -> Result<Vec<LearnerRecord>, AppError> {
    actor.require(MANAGERS)?;
    if input::has_forbidden_control(query) {
        return Err(AppError::invalid_field("q", "q must not contain control characters"));
    }
    if query.chars().count() > MAX_QUERY {
        return Err(AppError::invalid_field("q", format!("q must be at most {MAX_QUERY} characters")));
    }
    Ok(app.store.search_learners(query.trim(), limit.clamp(1, 500)).await?)
}

/// How an import treats the learners on record: dry run or not, and whether those the file does
/// not list are marked left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportMode {
    /// Check and count, store nothing.
    pub dry_run: bool,
    /// Mark learners on record (with an external reference, not left) whom the file does not
    /// list as left today, in the organisation's zone. Off by default: exports are often partial.
    pub mark_missing_as_left: bool,
}

/// Imports an MIS export as an admin, all or nothing (on a dry run, nothing at all); the statuses
/// shown catch up with the new names soon after.
pub async fn import(app: &App, actor: &Actor, csv: &[u8], mode: ImportMode) -> Result<ImportSummary, AppError> {
    actor.require(MANAGERS)?;
    let dry_run = mode.dry_run;
    let summary = import_csv(app.store.as_ref(), csv, &actor.token_id, mode, app.settings.rules).await?;
    if !dry_run {
        statuses::refresh_statuses_soon(app);
    }
    Ok(summary)
}

/// Parses an MIS export and imports it, all or nothing (on a dry run, nothing at all): the one
/// path shared by [`import`] and `consentgate learners import`, which runs without a server.
pub async fn import_csv(
    store: &dyn FullStore,
    csv: &[u8],
    actor: &str,
    mode: ImportMode,
    rules: Rules,
) -> Result<ImportSummary, AppError> {
    let now = time::OffsetDateTime::now_utc();
    let today = rules.zone.date_of(now);
    let drafts = roster::parse_mis_csv(csv, today).map_err(AppError::BadLines)?;
    let dry_run = mode.dry_run;
    let missing_left_on = mode
        .mark_missing_as_left
        .then(|| format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day()));
    let at = now_ms();
    let learners: Vec<LearnerRecord> = drafts
        .into_iter()
        .map(|d| LearnerRecord {
            id: uuid::Uuid::now_v7().to_string(),
            given_name: d.given_name,
            family_name: d.family_name,
            preferred_name: d.preferred_name,
            date_of_birth: d.date_of_birth,
            external_ref: Some(d.external_ref),
            email: d.email,
            // No groups here means "keep those on record" to the store, as the file's blank cell did.
            groups: d.groups.unwrap_or_default(),
            left_on: d.left_on,
            erased_at: None,
            guardians: d
                .guardians
                .into_iter()
                .map(|g| GuardianRecord {
                    id: uuid::Uuid::now_v7().to_string(),
                    name: g.name,
                    email: g.email,
                    removed_at: None,
                })
                .collect(),
            created_at: at,
            updated_at: at,
        })
        .collect();
    // No index is built here: one built before the import would hold the old names. The store
    // re-evaluates with an index built from the table as imported, inside the import's transaction.
    let eval = Evaluation { at: now, live: true, rules, actor: actor.to_string(), names: Default::default() };
    let mut summary = store.import_learners(&learners, eval, dry_run, missing_left_on.as_deref()).await?;
    // Who cannot be asked: named for the safeguarding lead, never logged. Read from the record
    // as it now stands (a guardian added, or an email corrected, by hand counts), and from the
    // file for a learner a dry run would create.
    let label = |l: &LearnerRecord| {
        format!("{} {} ({})", l.given_name, l.family_name, l.external_ref.as_deref().unwrap_or_default())
    };
    for learner in &learners {
        let reference = learner.external_ref.as_deref().unwrap_or_default();
        let on_record =
            store.search_learners(reference, 1000).await?.into_iter().find(|r| r.external_ref == learner.external_ref);
        let known =
            |name: &str, record: &LearnerRecord| record.guardians.iter().any(|g| g.name.eq_ignore_ascii_case(name));
        // The guardians the learner has once the file is applied: those on record, and those the
        // file adds (a guardian an admin removed stays removed).
        let guardians: Vec<(&str, bool)> = match &on_record {
            Some(record) => record
                .current_guardians()
                .map(|g| (g.name.as_str(), g.email.is_some()))
                .chain(
                    learner
                        .guardians
                        .iter()
                        .filter(|g| !known(&g.name, record))
                        .map(|g| (g.name.as_str(), g.email.is_some())),
                )
                .collect(),
            None => learner.guardians.iter().map(|g| (g.name.as_str(), g.email.is_some())).collect(),
        };
        for (name, _) in guardians.iter().filter(|(_, has_email)| !has_email) {
            summary.guardians_without_email.push(format!("{name}, for {}", label(learner)));
        }
        let minor = learner
            .date_of_birth
            .as_deref()
            .and_then(crate::policy::calendar::parse_iso_date)
            .is_none_or(|dob| today < crate::policy::consent::majority_date(dob));
        if minor && guardians.is_empty() {
            summary.under_18_without_guardian.push(label(learner));
        }
    }
    tracing::info!(
        dry_run,
        created = summary.created,
        updated = summary.updated,
        unchanged = summary.unchanged,
        guardians_still_removed = summary.guardians_still_removed,
        not_in_file = summary.not_in_file,
        marked_left = summary.marked_left,
        under_18_without_guardian = summary.under_18_without_guardian.len(),
        guardians_without_email = summary.guardians_without_email.len(),
        "learners imported"
    );
    Ok(summary)
}

/// Every group (class, course, cohort) with how many learners are in it, sorted by name: what a
/// request for consent is sent to. For tutors and admins.
pub async fn groups(app: &App, actor: &Actor) -> Result<Vec<(String, i64)>, AppError> {
    actor.require(PICKERS)?;
    Ok(app.store.groups().await?)
}

/// The tutor's learner picker: at most 20 learners matching what was typed (at least two
/// characters), for a tutor or admin. The caller shows them by first name and initial only.
pub async fn pick(app: &App, actor: &Actor, typed: String) -> Result<Vec<LearnerRecord>, AppError> {
    actor.require(PICKERS)?;
    let typed = input::free_text("q", typed, 100)?;
    let typed = typed.trim();
    if typed.chars().count() < 2 {
        return Ok(Vec::new());
    }
    Ok(app.store.search_learners(typed, 20).await?)
}

/// The learners among `ids` that are on record, by id, for a tutor's or admin's page to name the
/// people pictured (a tutor's page shows first names and initials only). Ids on no record are
/// left out.
pub async fn pictured(
    app: &App,
    actor: &Actor,
    ids: impl IntoIterator<Item = String>,
) -> Result<std::collections::HashMap<String, LearnerRecord>, AppError> {
    actor.require(PICKERS)?;
    let mut found = std::collections::HashMap::new();
    for id in ids {
        if found.contains_key(&id) {
            continue;
        }
        if let Some(learner) = app.store.learner(&id).await? {
            found.insert(id, learner);
        }
    }
    Ok(found)
}
