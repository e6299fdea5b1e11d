//! Erasure of a learner's personal data, on request (a subject's right where consent was the
//! basis). Each step is its own transaction and safe to run again, and the learner carries a
//! durable mark from the first step to the last, so an erasure cut short (a crash, `kill -9`) is
//! finished by running it again: by the admin, or by the maintenance loop, which resumes every
//! erasure under way.
//!
//! The steps, in order:
//! 1. [`Step::Mark`]: the reason is recorded and the erasure audited as started;
//! 2. [`Step::Withdraw`]: a withdrawal for every purpose, so every photo of theirs leaves the
//!    queue, takedowns are owed for what was published and marketing is told;
//! 3. [`Step::DeleteImages`]: the image of every photo they are pictured in goes (the rows,
//!    blake3 and perceptual hashes stay under their id, a pseudonym now, so a re-upload of their
//!    picture is held `matches_withdrawn`);
//! 4. [`Step::Tombstone`]: names, date of birth, emails, external reference, guardians, groups,
//!    consent evidence and signatures, texts naming them and messages to them are replaced by a
//!    tombstone, in one transaction; the name index is rebuilt;
//! 5. [`Step::Reclaim`]: the space the old values took is overwritten or vacuumed, so deleted
//!    means gone from disk (see `ErasureStore::reclaim_erased_space`).

use super::{input, learners, retention, Actor, App, AppError};
use crate::policy::consent::{EventKind, Giver};
use crate::policy::Purpose;
use crate::store::{
    now_ms, AuditAction, AuditDraft, ConsentRecord, ErasureStart, LearnerRecord, StoreError, TombstoneOutcome,
};

/// Who may erase a learner: the safeguarding lead.
pub const ERASERS: &[crate::store::Role] = &[crate::store::Role::Admin];

/// Longest reason kept, in characters.
pub const MAX_REASON: usize = 500;

/// The words the withdrawal an erasure records stands for; its blake3 is the event's form text hash.
pub const ERASURE_FORM_TEXT: &str =
    "The learner's personal data was erased: every consent is withdrawn and every purpose refused from now on.";

/// The method recorded on an erasure's withdrawal, by which a re-run recognises it.
const ERASURE_METHOD: &str = "erasure";

/// One step of an erasure; see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The durable mark and the reason.
    Mark,
    /// A withdrawal for every purpose.
    Withdraw,
    /// The images of every photo they are pictured in.
    DeleteImages,
    /// Personal data replaced by a tombstone.
    Tombstone,
    /// Old values overwritten on disk.
    Reclaim,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 5] = [Step::Mark, Step::Withdraw, Step::DeleteImages, Step::Tombstone, Step::Reclaim];
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// The learner, now a pseudonymous id.
    pub learner_id: String,
    /// When the tombstone was written (Unix ms).
    pub erased_at: i64,
    /// Whether an erasure of the learner had begun before this call (finished before, or under
    /// way: then this call finished it too).
    pub already: bool,
}

/// Month names as a date is written in words, lowercase.
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The ways a date of birth `YYYY-MM-DD` is written, lowercase: ISO and year first with `/` or
/// `.`, day first with `/`, `-` or `.` (with and without leading zeros, four- and two-digit
/// years), digits only, and in words ("17 april 2009", "17 apr 09", "april 17 2009", "sept"), as
/// [`plain_date_text`] leaves a text (no commas, no ordinal endings, single spaces).
fn date_spellings(iso: &str) -> Vec<String> {
    let parts: Vec<&str> = iso.split('-').collect();
    let [y, m, d] = parts[..] else { return vec![iso.to_string()] };
    let (m1, d1) = (m.trim_start_matches('0'), d.trim_start_matches('0'));
    let yy = y.get(2..).unwrap_or(y);
    let mut out = vec![iso.to_string(), format!("{y}{m}{d}"), format!("{d}{m}{y}")];
    for sep in ['/', '-', '.'] {
        for year in [y, yy] {
            out.push(format!("{d}{sep}{m}{sep}{year}"));
            out.push(format!("{d1}{sep}{m1}{sep}{year}"));
        }
        out.push(format!("{y}{sep}{m}{sep}{d}"));
        out.push(format!("{y}{sep}{m1}{sep}{d1}"));
    }
    if let Some(month) = m1.parse::<usize>().ok().and_then(|k| MONTHS.get(k.wrapping_sub(1))) {
        let mut names = vec![month.to_string(), month[..3].to_string()];
        if *month == "september" {
            names.push("sept".to_string());
        }
        for name in &names {
            for year in [y, yy] {
                for day in [d, d1] {
                    out.push(format!("{day} {name} {year}"));
                    out.push(format!("{name} {day} {year}"));
                }
            }
        }
    }
    out
}

/// `text` lowercase as [`date_spellings`] are written: commas as spaces, ordinal endings after a
/// day dropped ("17th" as "17"), runs of spaces as one.
fn plain_date_text(text: &str) -> String {
    let lower = text.to_lowercase().replace(',', " ");
    let chars: Vec<char> = lower.chars().collect();
    let mut out = String::with_capacity(lower.len());
    let mut k = 0;
    while k < chars.len() {
        let ending: String = chars[k..chars.len().min(k + 2)].iter().collect();
        let after_digit = k > 0 && chars[k - 1].is_ascii_digit();
        let word_ends = chars.get(k + 2).is_none_or(|c| !c.is_alphanumeric());
        if after_digit && word_ends && matches!(ending.as_str(), "st" | "nd" | "rd" | "th") {
            k += 2;
            continue;
        }
        out.push(chars[k]);
        k += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `reason` gives away anything of the learner's or their family's that erasure removes:
/// a word of a name (or a word starting with a name of four letters or more: "the Wintergreens"),
/// an email address, the date of birth in any usual spelling, or the MIS reference (or a piece of
/// it of five characters or more).
fn gives_away(reason: &str, learner: &LearnerRecord) -> bool {
    let entry = |given: &str, preferred: Option<&String>, family: &str| crate::policy::names::NameEntry {
        learner_id: learner.id.clone(),
        given_name: given.to_string(),
        preferred_name: preferred.cloned(),
        family_name: family.to_string(),
    };
    let mut entries = vec![entry(&learner.given_name, learner.preferred_name.as_ref(), &learner.family_name)];
    // A guardian's name (any word of it) is as much theirs to lose.
    entries.extend(learner.guardians.iter().map(|g| entry(&g.name, None, &g.name)));
    if entries.iter().any(|e| crate::policy::names::erase::erase_all_names(reason, e) != reason) {
        return true;
    }
    let words = |text: &str| -> Vec<String> {
        crate::policy::search::fold(text)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let name_words: Vec<String> = entries
        .iter()
        .flat_map(|e| [e.given_name.clone(), e.preferred_name.clone().unwrap_or_default(), e.family_name.clone()])
        .flat_map(|n| words(&n))
        .filter(|w| w.chars().count() >= 4)
        .collect();
    let lower = reason.to_lowercase();
    let reason_words = words(reason);
    let emails = learner.email.iter().chain(learner.guardians.iter().filter_map(|g| g.email.as_ref()));
    let dates = learner.date_of_birth.as_deref().map(date_spellings).unwrap_or_default();
    let reference = learner.external_ref.as_deref().map(str::to_lowercase);
    reason_words.iter().any(|w| name_words.iter().any(|n| w.starts_with(n.as_str())))
        || emails.into_iter().any(|e| lower.contains(&e.to_lowercase()))
        || {
            let plain = plain_date_text(reason);
            dates.iter().any(|d| plain.contains(d.as_str()))
        }
        || reference.is_some_and(|r| {
            lower.contains(&r)
                || lower
                    .split_whitespace()
                    .map(|t| t.trim_matches(|c: char| !c.is_alphanumeric()))
                    .any(|t| t.chars().count() >= 5 && r.contains(t))
        })
}

/// Refuses a reason that is empty, too long, holds control characters (bidirectional ones too),
/// or gives away anything erasure removes ([`gives_away`]): a reason is kept, and audited, after
/// the personal data is gone.
fn checked_reason(reason: &str, learner: &LearnerRecord) -> Result<String, AppError> {
    let reason = input::free_text("reason", reason.trim().to_string(), MAX_REASON)?;
    if reason.is_empty() {
        return Err(AppError::invalid_field("reason", "reason is required: say why (a request's reference, a date)"));
    }
    if reason.chars().any(input::is_bidi_control) {
        return Err(AppError::invalid_field("reason", "reason contains characters that reorder text"));
    }
    if gives_away(&reason, learner) {
        return Err(AppError::invalid_field(
            "reason",
            "the reason must not name the learner or their family, nor give an address, a date of birth or \
             the MIS reference: it is kept after their personal data is erased",
        ));
    }
    Ok(reason)
}

/// Erases the learner `learner_id` (an id as given in a path) for `reason`, as an admin: every step
/// in order. Erasing a learner erased already answers with when, and does nothing; an erasure under
/// way (cut short before) is finished.
pub async fn erase(app: &App, actor: &Actor, learner_id: &str, reason: &str) -> Result<Erased, AppError> {
    actor.require(ERASERS)?;
    let learner = learners::show(app, actor, learner_id).await?;
    if let Some(erased_at) = learner.erased_at {
        return Ok(Erased { learner_id: learner.id, erased_at, already: true });
    }
    let reason = checked_reason(reason, &learner)?;
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::ErasureStarted,
        &learner.id,
        serde_json::json!({ "reason": reason }),
    );
    let started_now = match app.store.begin_erasure(&learner.id, &reason, audit).await? {
        ErasureStart::Unknown => return Err(AppError::NotFound("learner")),
        ErasureStart::Erased(erased_at) => return Ok(Erased { learner_id: learner.id, erased_at, already: true }),
        ErasureStart::Started(_) => true,
        // Begun before (by a request running now, or one cut short): finished here too, since
        // every step can run again; this request did not start it.
        ErasureStart::UnderWay(_) => false,
    };
    let erased_at = finish(app, &learner.id, &actor.token_id).await?;
    if started_now {
        // The id only: the log never names a learner.
        tracing::info!(learner = %learner.id, "learner erased");
    }
    Ok(Erased { learner_id: learner.id, erased_at, already: !started_now })
}

/// Runs every step after the mark for a learner whose erasure is under way, as `actor`; returns
/// when the tombstone was written. Each step is safe to run again.
pub async fn finish(app: &App, learner_id: &str, actor: &str) -> Result<i64, AppError> {
    for step in &Step::ALL[1..] {
        run_step(app, learner_id, *step, actor).await?;
    }
    match app.store.learner(learner_id).await?.and_then(|l| l.erased_at) {
        Some(at) => Ok(at),
        None => Err(AppError::internal("the erasure did not finish")),
    }
}

/// Runs one step of the erasure of `learner_id` (marked already). Public so that a test can stop an
/// erasure between any two steps, as a crash would, and show a re-run finishes it.
pub async fn run_step(app: &App, learner_id: &str, step: Step, actor: &str) -> Result<(), AppError> {
    match step {
        Step::Mark => Ok(()),
        Step::Withdraw => withdraw_everything(app, learner_id, actor).await,
        Step::DeleteImages => {
            retention::delete_images_after_no(app, learner_id, actor).await;
            // Nothing of them stays on disk: not even the small copy an open takedown keeps.
            for photo_id in app.store.photos_picturing(learner_id).await? {
                super::takedowns::drop_small_copy(app, &photo_id).await?;
            }
            Ok(())
        }
        Step::Tombstone => {
            let eval = app.evaluation(actor).await?;
            match app.store.tombstone_learner(learner_id, eval).await? {
                TombstoneOutcome::Done(_) | TombstoneOutcome::Erased(_) => Ok(()),
                TombstoneOutcome::Unknown => Err(AppError::NotFound("learner")),
                TombstoneOutcome::NotStarted => Err(AppError::internal("an erasure step ran before its mark")),
            }
        }
        Step::Reclaim => {
            app.store.reclaim_erased_space().await?;
            Ok(())
        }
    }
}

/// Records, once, a withdrawal of every purpose by the learner (method `erasure`): any "no" wins,
/// so nothing of theirs can be released again, and published items owe their takedowns.
async fn withdraw_everything(app: &App, learner_id: &str, actor: &str) -> Result<(), AppError> {
    let events = app.store.consents(learner_id).await?;
    if events.iter().any(|e| e.kind == EventKind::Withdrawn && e.method == ERASURE_METHOD) {
        return Ok(());
    }
    let now = now_ms();
    // One id per learner: two runs at once (an admin's and the maintenance loop's) cannot both
    // record it, since the second insert of the id fails.
    let id_bytes: [u8; 16] =
        blake3::hash(format!("erasure:{learner_id}").as_bytes()).as_bytes()[..16].try_into().expect("16 bytes");
    let event = ConsentRecord {
        id: uuid::Uuid::from_bytes(id_bytes).to_string(),
        learner_id: learner_id.to_string(),
        kind: EventKind::Withdrawn,
        purposes: Purpose::ALL.to_vec(),
        giver: Giver::Learner,
        given_at: now,
        expires_at: None,
        form_version: ERASURE_METHOD.to_string(),
        form_text_hash: blake3::hash(ERASURE_FORM_TEXT.as_bytes()).to_hex().to_string(),
        method: ERASURE_METHOD.to_string(),
        evidence: ERASURE_METHOD.to_string(),
        recorded_by: actor.to_string(),
        recorded_at: now,
    };
    let audit = AuditDraft::new(
        actor,
        AuditAction::ConsentRecorded,
        learner_id,
        serde_json::json!({ "event": event.id, "kind": "withdrawn", "purposes": event.purposes, "given_by": "erasure" }),
    );
    let eval = app.evaluation(actor).await?;
    if let Err(e) = app.store.record_consent(&event, None, audit, eval).await {
        let recorded = app.store.consents(learner_id).await?.iter().any(|e| e.id == event.id);
        if !recorded {
            return Err(e.into());
        }
    }
    Ok(())
}

/// The reason recorded when the retention rule erases a leaver.
pub const RETENTION_REASON: &str = "retention rule learner_record_after_leaving";

/// Erases, as `system`, every learner who left longer ago than `learner_record_after_leaving`
/// (from the start of their leaving day, in the organisation's zone): the same steps as an erasure
/// on request. Returns how many were erased.
pub async fn erase_leavers(app: &App) -> Result<usize, StoreError> {
    let rule = app.settings.retention.learner_record_after_leaving;
    let Some(day) =
        crate::policy::retention::left_on_due_by(time::OffsetDateTime::now_utc(), rule, &app.settings.rules.zone)
    else {
        return Ok(0);
    };
    let left_by = format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day());
    let mut erased = 0;
    for (learner_id, _) in app.store.leavers_left_by(&left_by, 100).await? {
        let audit = AuditDraft::new(
            "system",
            AuditAction::ErasureStarted,
            &learner_id,
            serde_json::json!({ "reason": RETENTION_REASON, "rule": "learner_record_after_leaving" }),
        );
        if let ErasureStart::Started(_) = app.store.begin_erasure(&learner_id, RETENTION_REASON, audit).await? {
            match finish(app, &learner_id, "system").await {
                Ok(_) => {
                    tracing::info!(learner = %learner_id, "learner erased by the retention rule");
                    erased += 1;
                }
                // Marked: the next pass's `resume_erasures` finishes it.
                Err(e) => tracing::error!(error = %e, "cannot finish a retention erasure; the next pass retries"),
            }
        }
    }
    Ok(erased)
}

/// Finishes every erasure under way (one cut short by a crash): the maintenance loop's part.
/// Returns how many were finished.
pub async fn resume_erasures(app: &App) -> Result<usize, StoreError> {
    let mut finished = 0;
    for learner_id in app.store.erasures_under_way().await? {
        match finish(app, &learner_id, "system").await {
            Ok(_) => finished += 1,
            Err(e) => tracing::error!(error = %e, "cannot finish an erasure under way; the next pass retries"),
        }
    }
    Ok(finished)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::GuardianRecord;

    fn florizel() -> LearnerRecord {
        LearnerRecord {
            id: "f".into(),
            given_name: "Florizel".into(),
            family_name: "Wintergreen".into(),
            preferred_name: Some("Flo".into()),
            date_of_birth: Some("2009-11-02".into()),
            external_ref: Some("MIS-FW9-4410".into()),
            email: Some("flo@example.org".into()),
            groups: vec![],
            left_on: None,
            erased_at: None,
            guardians: vec![GuardianRecord {
                id: "g".into(),
                name: "Hortensia Wintergreen".into(),
                email: Some("h.w@example.net".into()),
                removed_at: None,
            }],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_reason_may_not_give_away_what_erasure_removes() {
        let learner = florizel();
        for giving_away in [
            "asked by Florizel",
            "FLO asked",
            "the Wintergreens asked",
            "Hortensia phoned",
            "born 2009-11-02",
            "born 02/11/2009",
            "born 2/11/2009",
            "born 02.11.2009",
            "born 2 November 2009",
            "born 2nd Nov, 2009",
            "BORN NOVEMBER 2ND, 2009",
            "born 02/11/09",
            "born 2009/11/02",
            "born 2.11.09",
            "MIS-FW9-4410",
            "MIS-FW9 left",
            "mail from H.W@example.net",
        ] {
            assert!(gives_away(giving_away, &learner), "{giving_away}");
        }
        for fine in [
            "SAR-2026-14",
            "subject access request of 3 March, by email",
            "left in July",
            "Flow chart",
            "request of 2 November 2026",
            "received 2nd of the month",
        ] {
            assert!(!gives_away(fine, &learner), "{fine}");
        }
        assert!(checked_reason("ref \u{202e}42", &learner).is_err());
        assert!(checked_reason("  ", &learner).is_err());
        assert_eq!(checked_reason(" SAR-2026-14 ", &learner).unwrap(), "SAR-2026-14");
    }
}
