//! The records of consent requests and of the mail outbox, and the outcomes of their atomic
//! decisions. Plain data, like [`super::records`].

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::records::{ConsentRecord, StatusChange};
use crate::policy::Purpose;

/// Why a request was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// An admin asked.
    Request,
    /// A grant is about to expire: its family is asked again, once per grant.
    Renewal,
    /// A learner turned 18 and is asked for their own consent, once per learner.
    Adult,
}

/// Who a recipient is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientKind {
    /// A guardian answers for a learner under 18 (or without a date of birth).
    Guardian,
    /// The learner answers for themselves, from 18.
    Learner,
}

/// Where a recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    /// Their message is in the outbox or was delivered; no answer yet.
    Queued,
    /// Nobody whose answer would count has an address: nothing was sent.
    NoContact,
    /// They answered on the form.
    Answered,
}

/// What kind of message an outbox row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// A first request (an admin's).
    Request,
    /// A reminder of an unanswered request.
    Reminder,
    /// A renewal request before a grant expires.
    Renewal,
    /// A learner's own request on their 18th birthday.
    Adult,
    /// What someone answered, with a grant's withdrawal link.
    Confirmation,
    /// A member of staff's one-time sign-in link (an invitation, or one they asked for).
    SignIn,
    /// To marketing and safeguarding leads: a takedown is owed.
    TakedownOwed,
    /// To marketing and safeguarding leads: a takedown is still owed past its deadline.
    TakedownOverdue,
}

impl MailKind {
    /// Whether it goes to a member of staff (never printed as a letter, never listed with the
    /// families' mail: a sign-in link in it would let the reader act as its addressee).
    pub fn to_staff(self) -> bool {
        matches!(self, MailKind::SignIn | MailKind::TakedownOwed | MailKind::TakedownOverdue)
    }
}

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    /// Waiting to be delivered (or, without SMTP, printed as a letter).
    Pending,
    /// Accepted by the SMTP server.
    Sent,
    /// Refused for good by the SMTP server (an unknown address): an admin must act.
    Failed,
    /// Printed and posted by an admin, as a letter.
    Posted,
}

macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)*
                    other => Err(format!(concat!(stringify!($ty), " {:?}"), other)),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(RequestKind { Request => "request", Renewal => "renewal", Adult => "adult" });
names!(RecipientKind { Guardian => "guardian", Learner => "learner" });
names!(RecipientStatus { Queued => "queued", NoContact => "no_contact", Answered => "answered" });
names!(MailKind {
    Request => "request", Reminder => "reminder", Renewal => "renewal", Adult => "adult", Confirmation => "confirmation",
    SignIn => "sign_in", TakedownOwed => "takedown_owed", TakedownOverdue => "takedown_overdue"
});
names!(MailState { Pending => "pending", Sent => "sent", Failed => "failed", Posted => "posted" });

/// A consent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Request id (UUIDv7).
    pub id: String,
    /// Why it was made.
    pub kind: RequestKind,
    /// The purposes asked about, sorted.
    pub purposes: Vec<Purpose>,
    /// The group it was made for, when it was made for one.
    pub group: Option<String>,
    /// The form's version, recorded with every answer.
    pub form_version: String,
    /// blake3 of the exact words the form shows ([`crate::policy::wording::ConsentWording::hash`]).
    pub form_text_hash: String,
    /// Token id of the admin who asked, or `system`.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// When its links stop working, Unix ms.
    pub expires_at: i64,
    /// For a renewal: the grant it renews.
    pub renews_grant_id: Option<String>,
    /// For a learner's own request at 18: the learner.
    pub adult_learner_id: Option<String>,
}

/// One recipient of a request (or the `no_contact` row of a learner nobody could be asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRecord {
    /// Recipient id (UUIDv7).
    pub id: String,
    /// The request.
    pub request_id: String,
    /// The learner it is about.
    pub learner_id: String,
    /// A guardian or the learner.
    pub to: RecipientKind,
    /// The guardian, for a guardian with an address.
    pub guardian_id: Option<String>,
    /// Queued, no contact or answered.
    pub status: RecipientStatus,
    /// Reminders queued so far.
    pub reminders_sent: i64,
    /// When their last message (request or reminder) was queued, Unix ms.
    pub last_sent_at: Option<i64>,
    /// When they answered, Unix ms.
    pub answered_at: Option<i64>,
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Message id (UUIDv7): the local part of its `Message-ID`.
    pub id: String,
    /// What it is.
    pub kind: MailKind,
    /// The learner it is about; `None` for staff mail.
    pub learner_id: Option<String>,
    /// The member of staff (account id) it goes to, for staff mail.
    pub staff_id: Option<String>,
    /// The request recipient it goes to, for requests and reminders.
    pub recipient_id: Option<String>,
    /// The addressee's name.
    pub to_name: String,
    /// The addressee's email address.
    pub to_address: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body; emptied once delivered or posted (it holds a link).
    pub body: String,
    /// The link the message carries (a form or a withdrawal link), for a letter's QR code;
    /// emptied with the body.
    pub link: Option<String>,
    /// Pending, sent, failed or posted.
    pub state: MailState,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Not to be tried before this, Unix ms.
    pub next_attempt_at: i64,
    /// What the SMTP server (or the connection) said at the last failure.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// When it was delivered, failed for good or was posted, Unix ms.
    pub done_at: Option<i64>,
}

/// A message's words: what the templates render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The link it carries, if any.
    pub link: Option<String>,
}

impl OutboxMessage {
    /// A new pending message to `to` (name, address), due now.
    pub fn new(kind: MailKind, learner_id: &str, to: (&str, &str), letter: Letter, now: i64) -> OutboxMessage {
        OutboxMessage {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            learner_id: Some(learner_id.to_string()),
            staff_id: None,
            recipient_id: None,
            to_name: to.0.to_string(),
            to_address: to.1.to_string(),
            subject: letter.subject,
            body: letter.body,
            link: letter.link,
            state: MailState::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            done_at: None,
        }
    }

    /// A new pending message to the member of staff `staff_id` (name, address), due now.
    pub fn to_staff(kind: MailKind, staff_id: &str, to: (&str, &str), letter: Letter, now: i64) -> OutboxMessage {
        let mut message = OutboxMessage::new(kind, "", to, letter, now);
        message.learner_id = None;
        message.staff_id = Some(staff_id.to_string());
        message
    }

    /// The same message, for the request recipient `recipient_id`.
    pub fn for_recipient(mut self, recipient_id: &str) -> OutboxMessage {
        self.recipient_id = Some(recipient_id.to_string());
        self
    }
}

/// A new request with everything written in its transaction.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The request.
    pub request: RequestRecord,
    /// The exact words its form shows, whose blake3 is `request.form_text_hash`.
    pub form_text: String,
    /// Its recipients, `no_contact` rows included.
    pub recipients: Vec<RecipientRecord>,
    /// `(token hash, recipient id)` of each recipient's link.
    pub links: Vec<(String, String)>,
    /// The messages to queue.
    pub messages: Vec<OutboxMessage>,
}

/// What storing a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestCreated {
    /// Stored, with its recipients, links and messages.
    Created,
    /// A renewal of this grant, or this learner's own request at 18, exists already (another
    /// replica made it): nothing was stored.
    Duplicate,
}

/// A request link, as its form needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLink {
    /// The request.
    pub request: RequestRecord,
    /// The recipient the link was sent to.
    pub recipient: RecipientRecord,
    /// The exact words of the form (JSON of [`crate::policy::wording::ConsentWording`]).
    pub form_text: String,
    /// The name the learner goes by (preferred, else given).
    pub first_name: String,
    /// The guardian's name, for a guardian.
    pub guardian_name: Option<String>,
    /// Whether the guardian was removed since the request was sent.
    pub guardian_removed: bool,
}

/// An answer, ready to record: the events, the grant's withdrawal link, the confirmation.
#[derive(Debug, Clone)]
pub struct RequestAnswer {
    /// A `granted` event for the purposes answered yes and a `refused` event for those answered
    /// no (one or both).
    pub events: Vec<ConsentRecord>,
    /// The blake3 of the grant's withdrawal token, when something was granted.
    pub withdrawal_token_hash: Option<String>,
    /// The confirmation to the giver; `None` when their address was removed since the request.
    pub confirmation: Option<OutboxMessage>,
}

/// What answering did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Recorded, with the statuses it changed.
    Answered(Vec<StatusChange>),
    /// The recipient had answered already, at this time: nothing changed.
    AlreadyAnswered(i64),
    /// No link has this token.
    Unknown,
}

/// A recipient due a reminder, with what the reminder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    /// The recipient.
    pub recipient: RecipientRecord,
    /// Their request.
    pub request: RequestRecord,
    /// The name the learner goes by.
    pub first_name: String,
    /// The addressee's name (the guardian's, or the learner's full name).
    pub to_name: String,
    /// Their address now (a corrected address is used).
    pub to_address: String,
    /// The exact words of the request's form (JSON of
    /// [`crate::policy::wording::ConsentWording`]), which the reminder repeats.
    pub form_text: String,
}

/// A recipient and what the admin pages show of them: the learner's name and answer state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientView {
    /// The recipient.
    pub recipient: RecipientRecord,
    /// The learner's name as the admin knows it.
    pub learner_name: String,
    /// The guardian's name, for a guardian.
    pub guardian_name: Option<String>,
}
