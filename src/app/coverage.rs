//! Coverage: for a group (or everyone), where each learner stands per purpose — granted, refused,
//! awaiting an answer, never asked, or without anyone to ask — for the safeguarding lead to chase;
//! and the tutor's list of who in a group may not be photographed at all yet.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::requests::{addressees, first_name};
use super::{consents, input, Actor, App, AppError};
use crate::policy::consent::{self, Decision, DenyReason};
use crate::policy::Purpose;
use crate::store::{ms_of_time, LearnerRecord, RecipientRecord, RecipientStatus, RequestRecord, Role};

/// Who may see coverage: safeguarding leads.
pub const READERS: &[Role] = &[Role::Admin];
/// Who may see a group's do-not-photograph list: tutors and safeguarding leads.
pub const CHECKERS: &[Role] = &[Role::Tutor, Role::Admin];

/// Where one learner stands for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// A grant counts now.
    Granted,
    /// A refusal or withdrawal stands.
    Refused,
    /// Asked, and the link still works, but nobody whose answer counts has answered.
    Awaiting,
    /// Nobody whose answer would count can be written to (no address on record).
    NoContact,
    /// Never asked about this purpose (or asked, and the link ran out unanswered).
    NeverAsked,
}

impl Standing {
    /// Every standing, in the order the tables show them.
    pub const ALL: [Standing; 5] =
        [Standing::Granted, Standing::Refused, Standing::Awaiting, Standing::NeverAsked, Standing::NoContact];

    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Granted => "granted",
            Standing::Refused => "refused",
            Standing::Awaiting => "awaiting",
            Standing::NoContact => "no_contact",
            Standing::NeverAsked => "never_asked",
        }
    }
}

/// Coverage of a group, or of everyone.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// The group, or `None` for everyone.
    pub group: Option<String>,
    /// How many learners.
    pub learners: usize,
    /// Per purpose, the learner ids in each standing (every standing present, maybe empty).
    pub purposes: BTreeMap<Purpose, BTreeMap<Standing, Vec<String>>>,
}

/// Where `learner` stands for `purpose` at `at`, given their decision and the requests they were
/// part of (`asked`, with their recipients).
pub fn standing(
    decision: &Decision,
    asked: &[&(RequestRecord, RecipientRecord)],
    purpose: Purpose,
    reachable: bool,
    at_ms: i64,
) -> Standing {
    match decision {
        Decision::Allow { .. } => return Standing::Granted,
        Decision::Deny { reasons }
            if reasons.iter().any(|r| matches!(r, DenyReason::Refused | DenyReason::Withdrawn)) =>
        {
            return Standing::Refused
        }
        Decision::Deny { .. } => {}
    }
    let about: Vec<_> = asked.iter().filter(|(request, _)| request.purposes.contains(&purpose)).collect();
    // A request is awaited while its link works and nobody asked in it has answered.
    let awaiting = about.iter().any(|(request, recipient)| {
        recipient.status == RecipientStatus::Queued
            && request.expires_at > at_ms
            && !about.iter().any(|(r, other)| r.id == request.id && other.status == RecipientStatus::Answered)
    });
    if awaiting {
        Standing::Awaiting
    } else if !reachable {
        Standing::NoContact
    } else {
        Standing::NeverAsked
    }
}

/// The learners of `group`, or everyone when `None` (in pages, so no one read is unbounded).
async fn learners_of(app: &App, group: Option<&str>) -> Result<Vec<LearnerRecord>, AppError> {
    match group {
        Some(group) => {
            let learners = app.store.learners_in_group(group).await?;
            if learners.is_empty() {
                return Err(AppError::NotFound("group"));
            }
            Ok(learners)
        }
        None => Ok(app.store.search_learners("", i64::MAX).await?),
    }
}

/// Where every learner of `group` (everyone when `None`) stands per purpose, now.
pub async fn of_group(app: &App, actor: &Actor, group: Option<&str>) -> Result<Coverage, AppError> {
    actor.require(READERS)?;
    let group = group.map(str::trim).filter(|g| !g.is_empty());
    let learners = learners_of(app, group).await?;
    let now = OffsetDateTime::now_utc();
    let now_ms = ms_of_time(now);
    let ids: Vec<String> = learners.iter().map(|l| l.id.clone()).collect();
    let asked = app.store.recipients_of(&ids).await?;
    let mut purposes: BTreeMap<Purpose, BTreeMap<Standing, Vec<String>>> =
        Purpose::ALL.into_iter().map(|p| (p, Standing::ALL.into_iter().map(|s| (s, Vec::new())).collect())).collect();
    for learner in &learners {
        let facts = consents::facts(learner)?;
        let events: Vec<_> = app.store.consents(&learner.id).await?.iter().map(|e| e.to_event()).collect();
        let theirs: Vec<_> = asked.iter().filter(|(_, r)| r.learner_id == learner.id).collect();
        let reachable = !addressees(app, learner, now)?.1.is_empty();
        for purpose in Purpose::ALL {
            let decision = consent::decide(&facts, &events, purpose, now, app.settings.rules);
            let at = standing(&decision, &theirs, purpose, reachable, now_ms);
            purposes.entry(purpose).or_default().entry(at).or_default().push(learner.id.clone());
        }
    }
    Ok(Coverage { group: group.map(str::to_string), learners: learners.len(), purposes })
}

/// Which learners the safeguarding lead's list shows: everyone, or those someone must act for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFilter {
    /// Everyone matching the search.
    All,
    /// Under 18 (or of unknown age) with no purpose granted: a parent's or guardian's yes is
    /// still needed for anything.
    MinorWithoutGrant,
    /// With a guardian who has no email address: a request cannot reach them.
    GuardianWithoutEmail,
    /// With a refusal or withdrawal standing for some purpose.
    Refused,
    /// Never asked about anything and nothing on record: no purpose granted, refused or awaited.
    NeverAsked,
}

impl ListFilter {
    /// Every filter, in the order the page offers them.
    pub const ALL: [ListFilter; 5] = [
        ListFilter::All,
        ListFilter::MinorWithoutGrant,
        ListFilter::GuardianWithoutEmail,
        ListFilter::Refused,
        ListFilter::NeverAsked,
    ];

    /// The name in the address (`?filter=`).
    pub fn as_str(self) -> &'static str {
        match self {
            ListFilter::All => "all",
            ListFilter::MinorWithoutGrant => "under_18_without_grant",
            ListFilter::GuardianWithoutEmail => "guardian_without_email",
            ListFilter::Refused => "refused",
            ListFilter::NeverAsked => "never_asked",
        }
    }

    /// The filter named `name`, if any.
    pub fn parse(name: &str) -> Option<ListFilter> {
        ListFilter::ALL.into_iter().find(|f| f.as_str() == name)
    }

    fn keeps(self, listed: &ListedLearner) -> bool {
        let any = |wanted: Standing| listed.standings.values().any(|s| *s == wanted);
        match self {
            ListFilter::All => true,
            ListFilter::MinorWithoutGrant => listed.minor && !any(Standing::Granted),
            ListFilter::GuardianWithoutEmail => listed.guardian_without_email,
            ListFilter::Refused => any(Standing::Refused),
            ListFilter::NeverAsked => {
                listed.standings.values().all(|s| matches!(s, Standing::NeverAsked | Standing::NoContact))
            }
        }
    }
}

/// One learner as the safeguarding lead's list shows them: age, where they stand per purpose now,
/// and what would stop a request reaching their family.
#[derive(Debug, Clone)]
pub struct ListedLearner {
    /// The learner.
    pub learner: LearnerRecord,
    /// Their age today in the organisation's zone, when their date of birth is known.
    pub age: Option<i32>,
    /// Under 18, or of unknown age (treated as under 18).
    pub minor: bool,
    /// Where they stand per purpose now.
    pub standings: BTreeMap<Purpose, Standing>,
    /// A current guardian has no email address.
    pub guardian_without_email: bool,
}

/// The learners matching `query` (every word, as the search matches) that `filter` keeps, at most
/// `limit`, each with their age and standing per purpose now. A filter looks at every learner
/// matching the query, so nobody who needs chasing is cut off by the page's length.
pub async fn listed(
    app: &App,
    actor: &Actor,
    query: &str,
    filter: ListFilter,
    limit: usize,
) -> Result<Vec<ListedLearner>, AppError> {
    actor.require(READERS)?;
    if input::has_forbidden_control(query) {
        return Err(AppError::invalid_field("q", "q must not contain control characters"));
    }
    if query.chars().count() > super::learners::MAX_QUERY {
        return Err(AppError::invalid_field(
            "q",
            format!("q must be at most {} characters", super::learners::MAX_QUERY),
        ));
    }
    let scan = if filter == ListFilter::All { i64::try_from(limit).unwrap_or(i64::MAX) } else { i64::MAX };
    let learners = app.store.search_learners(query.trim(), scan).await?;
    let now = OffsetDateTime::now_utc();
    let now_ms = ms_of_time(now);
    let ids: Vec<String> = learners.iter().map(|l| l.id.clone()).collect();
    let asked = app.store.recipients_of(&ids).await?;
    let mut out = Vec::new();
    for learner in learners {
        let facts = consents::facts(&learner)?;
        let events: Vec<_> = app.store.consents(&learner.id).await?.iter().map(|e| e.to_event()).collect();
        let theirs: Vec<_> = asked.iter().filter(|(_, r)| r.learner_id == learner.id).collect();
        let reachable = !addressees(app, &learner, now)?.1.is_empty();
        let standings = Purpose::ALL
            .into_iter()
            .map(|purpose| {
                let decision = consent::decide(&facts, &events, purpose, now, app.settings.rules);
                (purpose, standing(&decision, &theirs, purpose, reachable, now_ms))
            })
            .collect();
        let guardian_without_email = learner.current_guardians().any(|g| g.email.is_none());
        let listed = ListedLearner {
            age: facts.date_of_birth.map(|dob| consent::age_on(dob, app.settings.rules.zone.date_of(now))),
            minor: !consent::is_adult(&facts, now, app.settings.rules.zone),
            guardian_without_email,
            standings,
            learner,
        };
        if filter.keeps(&listed) {
            out.push(listed);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

/// A learner the tutor must not photograph yet, as the tutor's list shows them: first name and
/// family initial only, never why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotYet {
    /// The name they go by.
    pub first_name: String,
    /// The first letter of their family name.
    pub initial: String,
}

/// The learners of `group` for whom no purpose is allowed now: the list a tutor checks before
/// taking photos. Tutors and safeguarding leads.
pub async fn not_to_photograph(app: &App, actor: &Actor, group: &str) -> Result<Vec<NotYet>, AppError> {
    actor.require(CHECKERS)?;
    let learners = learners_of(app, Some(group.trim())).await?;
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for learner in &learners {
        let facts = consents::facts(learner)?;
        let events: Vec<_> = app.store.consents(&learner.id).await?.iter().map(|e| e.to_event()).collect();
        let allowed =
            Purpose::ALL.into_iter().any(|p| consent::decide(&facts, &events, p, now, app.settings.rules).allowed());
        if !allowed {
            out.push(NotYet {
                first_name: first_name(learner).to_string(),
                initial: learner.family_name.chars().next().map(String::from).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RecipientKind, RequestKind};

    fn asked(
        id: &str,
        purposes: &[Purpose],
        expires_at: i64,
        status: RecipientStatus,
    ) -> (RequestRecord, RecipientRecord) {
        (
            RequestRecord {
                id: id.into(),
                kind: RequestKind::Request,
                purposes: purposes.to_vec(),
                group: None,
                form_version: "v".into(),
                form_text_hash: "h".into(),
                created_by: "t".into(),
                created_at: 0,
                expires_at,
                renews_grant_id: None,
                adult_learner_id: None,
            },
            RecipientRecord {
                id: format!("{id}-r"),
                request_id: id.into(),
                learner_id: "l".into(),
                to: RecipientKind::Guardian,
                guardian_id: Some("g".into()),
                status,
                reminders_sent: 0,
                last_sent_at: Some(0),
                answered_at: None,
            },
        )
    }

    #[test]
    fn a_learner_stands_where_their_decision_and_requests_put_them() {
        let deny = |r: DenyReason| Decision::Deny { reasons: vec![r] };
        let open = asked("a", &[Purpose::Website], 100, RecipientStatus::Queued);
        let lapsed = asked("b", &[Purpose::Website], 10, RecipientStatus::Queued);
        let p = Purpose::Website;
        assert_eq!(standing(&Decision::Allow { basis: "e".into() }, &[], p, false, 50), Standing::Granted);
        assert_eq!(standing(&deny(DenyReason::Withdrawn), &[&open], p, true, 50), Standing::Refused);
        assert_eq!(standing(&deny(DenyReason::Refused), &[], p, true, 50), Standing::Refused);
        assert_eq!(standing(&deny(DenyReason::NoConsent), &[&open], p, true, 50), Standing::Awaiting);
        assert_eq!(standing(&deny(DenyReason::NoConsent), &[&open], Purpose::Print, true, 50), Standing::NeverAsked);
        assert_eq!(standing(&deny(DenyReason::NoConsent), &[&lapsed], p, true, 50), Standing::NeverAsked);
        assert_eq!(standing(&deny(DenyReason::Expired), &[], p, false, 50), Standing::NoContact);
        // Another recipient of the same request answered (a yes that does not count yet, say).
        let mut answered = open.clone();
        answered.1.id = "other".into();
        answered.1.status = RecipientStatus::Answered;
        assert_eq!(standing(&deny(DenyReason::NeedsGuardian), &[&open, &answered], p, true, 50), Standing::NeverAsked);
    }
}
