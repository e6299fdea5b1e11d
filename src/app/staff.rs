//! Staff accounts: a member of staff (name, email, role) invited by a safeguarding lead, who
//! signs in with a one-time link sent by email through the outbox, instead of pasting a token.
//! API tokens stay for scripts. An account is a token row with an email, so sessions, revocation,
//! role checks and the audit log's names work the same for both.

use super::{input, letters, Actor, App, AppError};
use crate::mail::Mailer;
use crate::store::{now_ms, AuditAction, AuditDraft, MailKind, OutboxMessage, Role, SignInLink, TokenRecord};
use crate::tokens;

/// Who invites, lists and revokes accounts: safeguarding leads.
pub const MANAGERS: &[Role] = &[Role::Admin];
/// How long an invitation's link works: long enough for someone back from a week away.
pub const INVITE_LINK_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a link asked for on the sign-in page works: mail is usually read within minutes.
pub const LINK_LIFETIME_MS: i64 = 30 * 60 * 1000;
/// Most links one account may be sent in [`LINK_WINDOW_MS`]: the sign-in page takes any
/// address, so it must not become a way to flood a colleague's inbox.
pub const MAX_LINKS_PER_WINDOW: i64 = 5;
/// The window [`MAX_LINKS_PER_WINDOW`] counts in: an hour.
pub const LINK_WINDOW_MS: i64 = 3600 * 1000;
/// The audit log's actor for a link asked for on the sign-in page: whoever typed the address,
/// unknown.
pub const SIGN_IN_PAGE: &str = "sign_in_page";
/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// An account as the admin's page and the API list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id (a token id: the audit log's actor).
    pub id: String,
    /// The person's name.
    pub name: String,
    /// Where sign-in links go.
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// When it was made, Unix ms.
    pub created_at: i64,
    /// When it was revoked, Unix ms.
    pub revoked_at: Option<i64>,
}

impl Account {
    fn of(record: TokenRecord) -> Option<Account> {
        Some(Account {
            email: record.email?,
            id: record.id,
            name: record.name,
            role: record.role,
            created_at: record.created_at,
            revoked_at: record.revoked_at,
        })
    }
}

/// An address as accounts are keyed by: trimmed and lower-cased (mail systems treat addresses
/// without regard to case in practice, and two accounts for one inbox would share its links).
pub fn normalised_email(value: &str) -> Result<String, AppError> {
    let email = crate::roster::fields::email(Some(value))
        .map_err(|e| AppError::invalid_field("email", e))?
        .ok_or_else(|| AppError::invalid_field("email", "give the person's work email address"))?;
    if email.chars().count() > MAX_EMAIL {
        return Err(AppError::invalid_field("email", "the email address is longer than 254 characters"));
    }
    if !crate::mail::deliverable(&email) {
        return Err(AppError::invalid_field(
            "email",
            "the email address is not valid: give one address, like name@example.org",
        ));
    }
    Ok(email.to_lowercase())
}

fn mailer(app: &App) -> Result<&Mailer, AppError> {
    app.mailer.as_deref().ok_or_else(|| {
        AppError::conflict(
            "mail_not_configured",
            "sign-in links go by email, and this service has no mail server set up (see smtp in the README): \
             give this person an API token instead, or set up mail first",
        )
    })
}

/// A new link for `account`, valid `lifetime_ms` from `now`, with the message that carries it.
fn link_for(
    app: &App,
    account: &TokenRecord,
    to: &str,
    invited: bool,
    now: i64,
    lifetime_ms: i64,
) -> (SignInLink, OutboxMessage) {
    let (secret, id_hash) = tokens::new_withdrawal_token();
    let expires_at = now.saturating_add(lifetime_ms);
    let link = SignInLink { id_hash, token_id: account.id.clone(), created_at: now, expires_at, used_at: None };
    let address = format!("{}/signin/link/{secret}", app.settings.public_url);
    let letter = letters::sign_in(
        &letters::Sender::of(&app.settings),
        &account.name,
        account.role.as_str(),
        invited,
        &address,
        &letters::moment(expires_at, app.settings.rules.zone),
    );
    let mail = OutboxMessage::to_staff(MailKind::SignIn, &account.id, (&account.name, to), letter, now);
    (link, mail)
}

/// A safeguarding lead invites a member of staff: the account is made and its first sign-in link
/// (valid for a week) queued to `email`, in one transaction. 409 `email_taken` when a live account
/// has the address, `mail_not_configured` without a mail server.
pub async fn invite(app: &App, actor: &Actor, name: &str, email: &str, role: Role) -> Result<Account, AppError> {
    actor.require(MANAGERS)?;
    let name = input::free_text("name", name.trim().to_string(), super::access::MAX_HOLDER_NAME)?;
    if name.is_empty() || name.contains(['\n', '\r', '\t']) || name.chars().any(input::is_bidi_control) {
        return Err(AppError::invalid_field("name", "give the person's name, on one line, as plain text"));
    }
    let email = normalised_email(email)?;
    mailer(app)?;
    let mut account = tokens::generate(role, &name).record;
    // The account's token secret was never shown to anyone: it cannot be used as a bearer token.
    account.email = Some(email.clone());
    let now = now_ms();
    let (link, mail) = link_for(app, &account, &email, true, now, INVITE_LINK_LIFETIME_MS);
    // The audit row names the member of staff (staff names are not learners' personal data the
    // log must keep out) but never the address, which is theirs.
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::StaffInvited,
        &account.id,
        serde_json::json!({ "role": role.as_str(), "name": name }),
    );
    if !app.store.create_account(&account, &link, &mail, audit).await? {
        return Err(AppError::conflict(
            "email_taken",
            "a member of staff already has an account with this email address: revoke it first to invite them again",
        ));
    }
    app.wake_sender();
    tracing::info!(account = %account.id, role = role.as_str(), "staff account invited");
    Ok(Account::of(account).expect("an invited account has an email"))
}

/// Someone on the sign-in page asks for a link to `email`. When a live account has that address
/// (and has not been sent [`MAX_LINKS_PER_WINDOW`] links in the last hour), a link valid for
/// [`LINK_LIFETIME_MS`] is queued to it. The answer is the same either way, so the page tells
/// nobody which addresses have accounts.
pub async fn send_link(app: &App, email: &str) -> Result<(), AppError> {
    let Ok(email) = normalised_email(email) else { return Ok(()) };
    if app.mailer.is_none() {
        return Ok(());
    }
    let Some(account) = app.store.account_by_email(&email).await? else { return Ok(()) };
    // Anyone may ask for anyone's address: the log says the sign-in page asked, not the person.
    queue_link(app, &account, &email, false, LINK_LIFETIME_MS, SIGN_IN_PAGE).await?;
    Ok(())
}

/// A safeguarding lead sends a member of staff a new invitation link (valid for a week): the first
/// one ran out, or went astray. `false` when the hourly limit of links was reached.
pub async fn resend(app: &App, actor: &Actor, id: &str) -> Result<bool, AppError> {
    actor.require(MANAGERS)?;
    mailer(app)?;
    let account = app
        .store
        .token(&id.to_ascii_lowercase())
        .await?
        .filter(|t| t.email.is_some() && t.revoked_at.is_none())
        .ok_or(AppError::NotFound("staff account"))?;
    let email = account.email.clone().unwrap_or_default();
    queue_link(app, &account, &email, true, INVITE_LINK_LIFETIME_MS, &actor.token_id).await
}

async fn queue_link(
    app: &App,
    account: &TokenRecord,
    email: &str,
    invited: bool,
    lifetime_ms: i64,
    actor: &str,
) -> Result<bool, AppError> {
    let now = now_ms();
    let (link, mail) = link_for(app, account, email, invited, now, lifetime_ms);
    let audit = AuditDraft::new(
        actor,
        AuditAction::SignInLinkSent,
        &account.id,
        serde_json::json!({ "valid_for_minutes": lifetime_ms / 60_000 }),
    );
    let sent = app.store.add_sign_in_link(&link, &mail, now - LINK_WINDOW_MS, MAX_LINKS_PER_WINDOW, audit).await?;
    if sent {
        app.wake_sender();
    } else {
        tracing::info!(account = %account.id, "sign-in link not sent: the hourly limit was reached");
    }
    Ok(sent)
}

/// Where a sign-in link stands, for the page it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// It works: it signs in as this person.
    Works {
        /// Their name.
        name: String,
    },
    /// It was used, ran out, or its account was revoked: ask for a new one.
    Spent,
    /// No link has this secret.
    Unknown,
}

fn link_hash(secret: &str) -> Option<String> {
    tokens::withdrawal_token_hash(secret)
}

/// What a sign-in link's page shows. Opening it changes nothing: mail scanners open links, so
/// only the button on the page (a POST) signs in.
pub async fn link_state(app: &App, secret: &str) -> Result<LinkState, AppError> {
    let Some(hash) = link_hash(secret) else { return Ok(LinkState::Unknown) };
    let Some((link, account)) = app.store.sign_in_link(&hash).await? else { return Ok(LinkState::Unknown) };
    let now = now_ms();
    if link.used_at.is_some() || link.expires_at <= now || !tokens::live_at(&account, now) {
        return Ok(LinkState::Spent);
    }
    Ok(LinkState::Works { name: account.name })
}

/// Signs in with a link: it is used up and a session (whose cookie secret the caller made) opened
/// for its account, at once. `None` when the link does not work (unknown, used, expired, revoked).
pub async fn sign_in(
    app: &App,
    link_secret: &str,
    session_secret: &str,
) -> Result<Option<super::access::SessionHolder>, AppError> {
    let Some(hash) = link_hash(link_secret) else { return Ok(None) };
    let now = now_ms();
    let audit = AuditDraft::new("", AuditAction::SignedIn, "", serde_json::json!({ "via": "link" }));
    let session_hash = tokens::hash_secret(session_secret);
    let expires = now.saturating_add(super::access::SESSION_LIFETIME_MS);
    let Some(account) = app.store.use_sign_in_link(&hash, now, &session_hash, expires, audit).await? else {
        return Ok(None);
    };
    Ok(Some(super::access::SessionHolder {
        actor: Actor { token_id: account.id, role: account.role },
        name: account.name,
    }))
}

/// Every staff account, newest first (revoked ones too, marked).
pub async fn accounts(app: &App, actor: &Actor) -> Result<Vec<Account>, AppError> {
    actor.require(MANAGERS)?;
    Ok(app.store.tokens().await?.into_iter().filter_map(Account::of).collect())
}

/// A safeguarding lead revokes a staff account (never an API token: those are revoked on the
/// tokens page or the command line): its sessions, unused links and unsent sign-in mail go at
/// once. 404 for anything but an account; 409 `account_revoked` when it was revoked already.
pub async fn revoke(app: &App, actor: &Actor, id: &str) -> Result<(), AppError> {
    actor.require(MANAGERS)?;
    let id = id.to_ascii_lowercase();
    let valid = id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let account = if valid { app.store.token(&id).await? } else { None };
    if account.is_none_or(|a| a.email.is_none()) {
        return Err(AppError::NotFound("staff account"));
    }
    match super::access::revoke_token(app.store.as_ref(), &id, &actor.token_id).await? {
        crate::store::RevokeOutcome::Revoked { .. } => Ok(()),
        crate::store::RevokeOutcome::AlreadyRevoked(_) => {
            Err(AppError::conflict("account_revoked", "this account was revoked already"))
        }
        crate::store::RevokeOutcome::Unknown => Err(AppError::NotFound("staff account")),
    }
}
