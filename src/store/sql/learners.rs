//! Learners and guardians: creation, correction, import and search. Each change bumps the
//! learners' version (the name index follows it) and re-evaluates the learner's photos in the same
//! transaction.

use async_trait::async_trait;
use sqlx::Row;

use super::{is_unique_violation, PostgresStore, SqliteStore};
use crate::policy::search::{learner_search_text, learner_sort_key, like_patterns, name_key};
use crate::store::audit::{AuditAction, AuditDraft};
use crate::store::error::StoreError;
use crate::store::records::{
    ms_of_time, Evaluation, GuardianAdded, GuardianRecord, ImportSummary, LearnerRecord, StatusChange,
};
use crate::store::traits::LearnerStore;

/// The folded text a learner is searched by and the key they are listed by, as stored in
/// `learners.search_text` and `learners.sort_key`.
fn search_columns(
    given_name: &str,
    family_name: &str,
    preferred_name: Option<&str>,
    external_ref: Option<&str>,
) -> (String, String) {
    (
        learner_search_text(given_name, family_name, preferred_name, external_ref),
        learner_sort_key(given_name, family_name),
    )
}

/// [`search_columns`] of a learner record.
fn search_columns_of(learner: &LearnerRecord) -> (String, String) {
    search_columns(
        &learner.given_name,
        &learner.family_name,
        learner.preferred_name.as_deref(),
        learner.external_ref.as_deref(),
    )
}

macro_rules! impl_learner_store {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(super) async fn learner_from_row(
                &self,
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<LearnerRecord, StoreError> {
                let id: String = row.try_get("id")?;
                let guardians =
                    sqlx::query(
                        "SELECT id, name, email, removed_at FROM guardians WHERE learner_id = $1 ORDER BY created_at, id",
                    )
                        .bind(&id)
                        .fetch_all(self.reader())
                        .await?
                        .iter()
                        .map(|g| {
                            Ok(GuardianRecord {
                                id: g.try_get("id")?,
                                name: g.try_get("name")?,
                                email: g.try_get("email")?,
                                removed_at: g.try_get("removed_at")?,
                            })
                        })
                        .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let mut groups: Vec<String> =
                    sqlx::query_scalar("SELECT group_name FROM learner_groups WHERE learner_id = $1")
                        .bind(&id)
                        .fetch_all(self.reader())
                        .await?;
                groups.sort();
                Ok(LearnerRecord {
                    id,
                    given_name: row.try_get("given_name")?,
                    family_name: row.try_get("family_name")?,
                    preferred_name: row.try_get("preferred_name")?,
                    date_of_birth: row.try_get("date_of_birth")?,
                    external_ref: row.try_get("external_ref")?,
                    email: row.try_get("email")?,
                    groups,
                    left_on: row.try_get("left_on")?,
                    erased_at: row.try_get("erased_at")?,
                    guardians,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            /// Folds the search text and sort key of learners written before they were stored as
            /// they are now (migrations 0010 and 0014 empty them): run after migrating, in batches,
            /// until none is left. Not audited and no version bump: nothing a person wrote changes.
            pub(super) async fn backfill_search_text(&self) -> Result<(), StoreError> {
                loop {
                    let rows = sqlx::query(
                        "SELECT id, given_name, family_name, preferred_name, external_ref FROM learners \
                         WHERE search_text IS NULL ORDER BY id LIMIT 500",
                    )
                    .fetch_all(self.writer())
                    .await?;
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.writer().begin().await?;
                    Self::lock_in(&mut *tx).await?;
                    for row in &rows {
                        let given: String = row.try_get("given_name")?;
                        let family: String = row.try_get("family_name")?;
                        let preferred: Option<String> = row.try_get("preferred_name")?;
                        let external_ref: Option<String> = row.try_get("external_ref")?;
                        let (text, key) = search_columns(&given, &family, preferred.as_deref(), external_ref.as_deref());
                        sqlx::query(
                            "UPDATE learners SET search_text = $1, sort_key = $2 WHERE id = $3 AND search_text IS NULL",
                        )
                        .bind(text)
                        .bind(key)
                            .bind(row.try_get::<String, _>("id")?)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                }
            }

            pub(super) async fn insert_guardian_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
                g: &GuardianRecord,
                at: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO guardians (id, learner_id, name, email, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&g.id)
                .bind(learner_id)
                .bind(&g.name)
                .bind(&g.email)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// A learner's groups as `conn` sees them, sorted in Rust (byte order) so both backends
            /// agree whatever their collation.
            pub(super) async fn groups_of_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Vec<String>, StoreError> {
                let mut groups: Vec<String> =
                    sqlx::query_scalar("SELECT group_name FROM learner_groups WHERE learner_id = $1")
                        .bind(learner_id)
                        .fetch_all(&mut *conn)
                        .await?;
                groups.sort();
                Ok(groups)
            }

            /// Makes a learner's groups exactly `groups` (repeats written once).
            pub(super) async fn replace_groups_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
                groups: &[String],
            ) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM learner_groups WHERE learner_id = $1")
                    .bind(learner_id)
                    .execute(&mut *conn)
                    .await?;
                for group in groups.iter().collect::<std::collections::BTreeSet<_>>() {
                    sqlx::query("INSERT INTO learner_groups (learner_id, group_name) VALUES ($1, $2)")
                        .bind(learner_id)
                        .bind(group)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }

            /// Writes a new learner's row (not their guardians or groups); the error is sqlx's, so
            /// the caller can tell a reference already used.
            pub(super) async fn insert_learner_row_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner: &LearnerRecord,
            ) -> Result<(), sqlx::Error> {
                let (search_text, sort_key) = search_columns_of(learner);
                sqlx::query(
                    "INSERT INTO learners (id, given_name, family_name, preferred_name, date_of_birth, external_ref, \
                     email, created_at, updated_at, search_text, sort_key, left_on) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&learner.id)
                .bind(&learner.given_name)
                .bind(&learner.family_name)
                .bind(&learner.preferred_name)
                .bind(&learner.date_of_birth)
                .bind(&learner.external_ref)
                .bind(&learner.email)
                .bind(learner.created_at)
                .bind(learner.updated_at)
                .bind(&search_text)
                .bind(&sort_key)
                .bind(&learner.left_on)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Bumps the learners' version counter: the name index is rebuilt when it moves.
            pub(super) async fn bump_learners_version_in(
                conn: &mut <$db as sqlx::Database>::Connection,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE learners_version SET version = version + 1 WHERE id = 1")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// Every learner's names as `conn` sees them (inside a transaction: with its changes).
            pub(super) async fn learner_names_in(
                conn: &mut <$db as sqlx::Database>::Connection,
            ) -> Result<Vec<crate::policy::names::NameEntry>, StoreError> {
                // An erased learner has no names left to find.
                let rows = sqlx::query(
                    "SELECT id, given_name, preferred_name, family_name FROM learners WHERE erased_at IS NULL",
                )
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::policy::names::NameEntry {
                            learner_id: r.try_get("id")?,
                            given_name: r.try_get("given_name")?,
                            preferred_name: r.try_get("preferred_name")?,
                            family_name: r.try_get("family_name")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            pub(super) async fn photos_of_learner_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT photo_id FROM photo_learners WHERE learner_id = $1 ORDER BY photo_id")
                    .bind(learner_id)
                    .fetch_all(&mut *conn)
                    .await?)
            }
        }

        #[async_trait]
        impl LearnerStore for $store {
            async fn insert_learner(&self, learner: &LearnerRecord, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.writer().begin().await?;
                // Every writing transaction takes the chain's lock first: one lock order, no deadlocks.
                Self::lock_in(&mut *tx).await?;
                let inserted = Self::insert_learner_row_in(&mut *tx, learner).await;
                if let Err(e) = inserted {
                    return Err(if is_unique_violation(&e) {
                        StoreError::Conflict("a learner with this external reference".into())
                    } else {
                        e.into()
                    });
                }
                for g in &learner.guardians {
                    sqlx::query(
                        "INSERT INTO guardians (id, learner_id, name, email, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&g.id)
                    .bind(&learner.id)
                    .bind(&g.name)
                    .bind(&g.email)
                    .bind(learner.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::replace_groups_in(&mut *tx, &learner.id, &learner.groups).await?;
                Self::bump_learners_version_in(&mut *tx).await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_learner(
                &self,
                learner: &LearnerRecord,
                audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let (search_text, sort_key) = search_columns_of(learner);
                let updated = sqlx::query(
                    "UPDATE learners SET given_name = $1, family_name = $2, preferred_name = $3, date_of_birth = $4, \
                     external_ref = $5, email = $6, updated_at = $7, search_text = $8, sort_key = $9, left_on = $10 \
                     WHERE id = $11",
                )
                .bind(&learner.given_name)
                .bind(&learner.family_name)
                .bind(&learner.preferred_name)
                .bind(&learner.date_of_birth)
                .bind(&learner.external_ref)
                .bind(&learner.email)
                .bind(learner.updated_at)
                .bind(&search_text)
                .bind(&sort_key)
                .bind(&learner.left_on)
                .bind(&learner.id)
                .execute(&mut *tx)
                .await;
                let updated = match updated {
                    Ok(result) => result.rows_affected(),
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict("a learner with this external reference".into()))
                    }
                    Err(e) => return Err(e.into()),
                };
                if updated == 0 {
                    return Ok(false);
                }
                Self::replace_groups_in(&mut *tx, &learner.id, &learner.groups).await?;
                Self::bump_learners_version_in(&mut *tx).await?;
                Self::append_in(&mut tx, &audit).await?;
                let photos = Self::photos_of_learner_in(&mut *tx, &learner.id).await?;
                Self::reevaluate_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn import_learners(
                &self,
                learners: &[LearnerRecord],
                eval: Evaluation,
                dry_run: bool,
                missing_left_on: Option<&str>,
            ) -> Result<ImportSummary, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let mut summary = ImportSummary::default();
                let mut changed_learners = Vec::new();
                for learner in learners {
                    let existing = sqlx::query(
                        "SELECT id, given_name, family_name, preferred_name, date_of_birth, email, left_on FROM learners \
                         WHERE external_ref = $1",
                    )
                    .bind(&learner.external_ref)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(existing) = existing else {
                        Self::insert_learner_row_in(&mut *tx, learner).await?;
                        for g in &learner.guardians {
                            Self::insert_guardian_in(&mut *tx, &learner.id, g, learner.created_at).await?;
                        }
                        Self::replace_groups_in(&mut *tx, &learner.id, &learner.groups).await?;
                        let audit = AuditDraft::new(
                            &eval.actor,
                            AuditAction::LearnerImported,
                            &learner.id,
                            serde_json::json!({ "guardians": learner.guardians.len() }),
                        );
                        Self::append_in(&mut tx, &audit).await?;
                        summary.created += 1;
                        continue;
                    };
                    let id: String = existing.try_get("id")?;
                    let mut fields = Vec::new();
                    let preferred: Option<String> = existing.try_get("preferred_name")?;
                    let preferred = learner.preferred_name.clone().or(preferred);
                    if existing.try_get::<String, _>("given_name")? != learner.given_name {
                        fields.push("given_name");
                    }
                    if existing.try_get::<String, _>("family_name")? != learner.family_name {
                        fields.push("family_name");
                    }
                    if existing.try_get::<Option<String>, _>("preferred_name")? != preferred {
                        fields.push("preferred_name");
                    }
                    // A blank cell means "not given", as for the preferred name: blanking a known date of
                    // birth would make an adult count as a child again (and a guardian's grant count).
                    let stored_dob: Option<String> = existing.try_get("date_of_birth")?;
                    let date_of_birth = learner.date_of_birth.clone().or_else(|| stored_dob.clone());
                    if stored_dob != date_of_birth {
                        fields.push("date_of_birth");
                    }
                    // The learner's email and groups follow the same rule: blank keeps, given replaces.
                    let stored_email: Option<String> = existing.try_get("email")?;
                    let email = learner.email.clone().or_else(|| stored_email.clone());
                    if stored_email != email {
                        fields.push("learner_email");
                    }
                    // A leaving day too: an export rarely clears one, and clearing it would release a
                    // leaver's photos again; an admin corrects it through the API.
                    let stored_left_on: Option<String> = existing.try_get("left_on")?;
                    let left_on = learner.left_on.clone().or_else(|| stored_left_on.clone());
                    if stored_left_on != left_on {
                        fields.push("left_on");
                    }
                    let stored_groups = Self::groups_of_in(&mut *tx, &id).await?;
                    let groups: Vec<String> = if learner.groups.is_empty() {
                        stored_groups.clone()
                    } else {
                        learner.groups.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect()
                    };
                    if stored_groups != groups {
                        fields.push("groups");
                        Self::replace_groups_in(&mut *tx, &id, &groups).await?;
                    }
                    if !fields.is_empty() {
                        let (search_text, sort_key) = search_columns(
                            &learner.given_name,
                            &learner.family_name,
                            preferred.as_deref(),
                            learner.external_ref.as_deref(),
                        );
                        sqlx::query(
                            "UPDATE learners SET given_name = $1, family_name = $2, preferred_name = $3, \
                             date_of_birth = $4, email = $5, updated_at = $6, search_text = $7, sort_key = $8, \
                             left_on = $9 WHERE id = $10",
                        )
                        .bind(&learner.given_name)
                        .bind(&learner.family_name)
                        .bind(&preferred)
                        .bind(&date_of_birth)
                        .bind(&email)
                        .bind(learner.updated_at)
                        .bind(&search_text)
                        .bind(&sort_key)
                        .bind(&left_on)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    // Removed guardians are matched too: a file that still lists someone an admin
                    // removed leaves them removed (counted in the summary), never re-adds them. A
                    // guardian is the same one by name (`search::name_key`: case, accents, spacing)
                    // or by email, so an admin's corrected spelling survives a file that still has
                    // the old one, as long as the email is on record.
                    let known = sqlx::query("SELECT name, email, removed_at FROM guardians WHERE learner_id = $1")
                        .bind(&id)
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|r| {
                            Ok((
                                name_key(&r.try_get::<String, _>("name")?),
                                r.try_get::<Option<String>, _>("email")?.map(|e| e.to_lowercase()),
                                r.try_get::<Option<i64>, _>("removed_at")?,
                            ))
                        })
                        .collect::<Result<Vec<_>, sqlx::Error>>()?;
                    let mut added = 0;
                    for g in &learner.guardians {
                        let (name, email) = (name_key(&g.name), g.email.as_ref().map(|e| e.to_lowercase()));
                        let matches: Vec<&(String, Option<String>, Option<i64>)> = known
                            .iter()
                            .filter(|(k, e, _)| *k == name || (email.is_some() && *e == email))
                            .collect();
                        if matches.is_empty() {
                            Self::insert_guardian_in(&mut *tx, &id, g, learner.updated_at).await?;
                            added += 1;
                        } else if matches.iter().any(|(_, _, removed)| removed.is_some()) {
                            // Removed wins over a current match: the file lists someone removed.
                            summary.guardians_still_removed += 1;
                        }
                    }
                    if fields.is_empty() && added == 0 {
                        summary.unchanged += 1;
                        continue;
                    }
                    // The audit names the fields changed, never their values.
                    let audit = AuditDraft::new(
                        &eval.actor,
                        AuditAction::LearnerCorrected,
                        &id,
                        serde_json::json!({ "fields": fields, "guardians_added": added, "via": "import" }),
                    );
                    Self::append_in(&mut tx, &audit).await?;
                    summary.updated += 1;
                    changed_learners.push(id);
                }
                // Learners the file does not list: counted, and marked left when asked. Exports are
                // often partial (one course, one year), so nobody is removed or marked by default.
                let in_file: std::collections::HashSet<&str> =
                    learners.iter().filter_map(|l| l.external_ref.as_deref()).collect();
                let staying: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, external_ref FROM learners WHERE external_ref IS NOT NULL AND left_on IS NULL",
                )
                .fetch_all(&mut *tx)
                .await?;
                for (id, external_ref) in staying {
                    if in_file.contains(external_ref.as_str()) {
                        continue;
                    }
                    summary.not_in_file += 1;
                    let Some(day) = missing_left_on else { continue };
                    sqlx::query("UPDATE learners SET left_on = $1, updated_at = $2 WHERE id = $3")
                        .bind(day)
                        .bind(ms_of_time(eval.at))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    let audit = AuditDraft::new(
                        &eval.actor,
                        AuditAction::LearnerCorrected,
                        &id,
                        serde_json::json!({ "fields": ["left_on"], "guardians_added": 0, "via": "import", "not_in_file": true }),
                    );
                    Self::append_in(&mut tx, &audit).await?;
                    summary.marked_left += 1;
                    changed_learners.push(id);
                }
                if summary.created + summary.updated + summary.marked_left > 0 {
                    Self::bump_learners_version_in(&mut *tx).await?;
                }
                let mut photos = Vec::new();
                for id in &changed_learners {
                    photos.extend(Self::photos_of_learner_in(&mut *tx, id).await?);
                }
                photos.sort();
                photos.dedup();
                // The re-evaluation must check captions against the names as imported, not as they
                // were before: the index is rebuilt from this transaction's view of the table.
                let names = Self::learner_names_in(&mut *tx).await?;
                let eval =
                    Evaluation { names: std::sync::Arc::new(crate::policy::names::NameIndex::build(names)), ..eval };
                Self::reevaluate_in(&mut tx, &photos, &eval).await?;
                let audit = AuditDraft::new(
                    &eval.actor,
                    AuditAction::LearnersImport,
                    "-",
                    serde_json::json!({
                        "created": summary.created, "updated": summary.updated, "unchanged": summary.unchanged,
                        "not_in_file": summary.not_in_file, "marked_left": summary.marked_left
                    }),
                );
                Self::append_in(&mut tx, &audit).await?;
                if dry_run {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                }
                Ok(summary)
            }

            async fn add_guardian(
                &self,
                learner_id: &str,
                guardian: &GuardianRecord,
                max_current: usize,
                at: i64,
                audit: AuditDraft,
            ) -> Result<GuardianAdded, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let touched = sqlx::query("UPDATE learners SET updated_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(learner_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if touched == 0 {
                    return Ok(GuardianAdded::NoLearner);
                }
                let current: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM guardians WHERE learner_id = $1 AND removed_at IS NULL")
                        .bind(learner_id)
                        .fetch_one(&mut *tx)
                        .await?;
                if usize::try_from(current).unwrap_or(usize::MAX) >= max_current {
                    return Ok(GuardianAdded::Full);
                }
                Self::insert_guardian_in(&mut *tx, learner_id, guardian, at).await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(GuardianAdded::Added)
            }

            async fn correct_guardian(
                &self,
                learner_id: &str,
                guardian: &GuardianRecord,
                at: i64,
                audit: AuditDraft,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let updated = sqlx::query(
                    "UPDATE guardians SET name = $1, email = $2 WHERE id = $3 AND learner_id = $4 AND removed_at IS NULL",
                )
                .bind(&guardian.name)
                .bind(&guardian.email)
                .bind(&guardian.id)
                .bind(learner_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Ok(false);
                }
                sqlx::query("UPDATE learners SET updated_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(learner_id)
                    .execute(&mut *tx)
                    .await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn remove_guardian(
                &self,
                learner_id: &str,
                guardian_id: &str,
                audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<Option<(i64, Vec<StatusChange>)>, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let at = ms_of_time(eval.at);
                let removed = sqlx::query(
                    "UPDATE guardians SET removed_at = $1 WHERE id = $2 AND learner_id = $3 AND removed_at IS NULL",
                )
                .bind(at)
                .bind(guardian_id)
                .bind(learner_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if removed == 0 {
                    return Ok(None);
                }
                sqlx::query("UPDATE learners SET updated_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(learner_id)
                    .execute(&mut *tx)
                    .await?;
                // Removing someone is often a safeguarding decision: nothing not yet sent to them
                // (a request, a reminder, a confirmation) goes out, by email or as a letter.
                let cancelled = sqlx::query(
                    "DELETE FROM outbox WHERE state IN ('pending', 'failed') AND recipient_id IN \
                     (SELECT id FROM request_recipients WHERE guardian_id = $1)",
                )
                .bind(guardian_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let mut audit = audit;
                audit.details["messages_cancelled"] = serde_json::json!(cancelled);
                Self::append_in(&mut tx, &audit).await?;
                // Their grants stop counting: every photo of the learner, and every look-alike held
                // for them, is decided again before this commits.
                let photos = Self::photos_concerning_in(&mut *tx, learner_id).await?;
                let changes = Self::reevaluate_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok(Some((at, changes)))
            }

            async fn learner(&self, id: &str) -> Result<Option<LearnerRecord>, StoreError> {
                let row =
                    sqlx::query("SELECT * FROM learners WHERE id = $1").bind(id).fetch_optional(self.reader()).await?;
                match row {
                    Some(row) => Ok(Some(self.learner_from_row(&row).await?)),
                    None => Ok(None),
                }
            }

            async fn search_learners(&self, query: &str, limit: i64) -> Result<Vec<LearnerRecord>, StoreError> {
                // Folded in Rust on both sides, so both backends find the same learners: every
                // word typed must be somewhere in the learner's words.
                let Some(patterns) = like_patterns(query) else { return Ok(Vec::new()) };
                let mut sql = String::from("SELECT * FROM learners WHERE erased_at IS NULL");
                for k in 1..=patterns.len() {
                    sql.push_str(&format!(" AND search_text LIKE ${k}"));
                }
                sql.push_str(&format!(" ORDER BY sort_key, id LIMIT ${}", patterns.len() + 1));
                let mut select = sqlx::query(&sql);
                for pattern in patterns {
                    select = select.bind(pattern);
                }
                let rows = select.bind(limit).fetch_all(self.reader()).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(self.learner_from_row(row).await?);
                }
                Ok(out)
            }

            async fn groups(&self) -> Result<Vec<(String, i64)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT group_name, COUNT(*) AS learners FROM learner_groups GROUP BY group_name",
                )
                .fetch_all(self.reader())
                .await?;
                let mut groups = rows
                    .iter()
                    .map(|r| Ok((r.try_get::<String, _>("group_name")?, r.try_get::<i64, _>("learners")?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                // Sorted here, not by ORDER BY: PostgreSQL's collation would order differently from
                // SQLite's bytes.
                groups.sort();
                Ok(groups)
            }

            async fn learners_in_group(&self, group: &str) -> Result<Vec<LearnerRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT l.* FROM learners l JOIN learner_groups g ON g.learner_id = l.id \
                     WHERE g.group_name = $1 ORDER BY l.sort_key, l.id",
                )
                .bind(group)
                .fetch_all(self.reader())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(self.learner_from_row(row).await?);
                }
                Ok(out)
            }

            async fn unknown_learners(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
                // One query per UNKNOWN_LEARNERS_BATCH ids (the use cases send at most
                // MAX_LEARNERS, so one), not one per id: a bounded IN list stays within every
                // backend's limit on bound parameters.
                let mut found = std::collections::HashSet::new();
                for batch in ids.chunks(UNKNOWN_LEARNERS_BATCH) {
                    let placeholders: Vec<String> = (1..=batch.len()).map(|i| format!("${i}")).collect();
                    // An erased learner is a pseudonym now: nobody tags, asks or records them again.
                    let sql = format!(
                        "SELECT id FROM learners WHERE id IN ({}) AND erased_at IS NULL",
                        placeholders.join(", ")
                    );
                    let mut query = sqlx::query_scalar::<_, String>(&sql);
                    for id in batch {
                        query = query.bind(id);
                    }
                    found.extend(query.fetch_all(self.reader()).await?);
                }
                Ok(ids.iter().filter(|id| !found.contains(*id)).cloned().collect())
            }

            async fn learners_version(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT version FROM learners_version WHERE id = 1")
                    .fetch_one(self.reader())
                    .await?)
            }

            async fn learner_names(&self) -> Result<Vec<crate::policy::names::NameEntry>, StoreError> {
                let mut conn = self.reader().acquire().await?;
                Self::learner_names_in(&mut *conn).await
            }
        }
    };
}

/// Most ids one query of `unknown_learners` binds: far below SQLite's and PostgreSQL's limits on
/// bound parameters.
const UNKNOWN_LEARNERS_BATCH: usize = 500;

impl_learner_store!(SqliteStore, sqlx::Sqlite);
impl_learner_store!(PostgresStore, sqlx::Postgres);
