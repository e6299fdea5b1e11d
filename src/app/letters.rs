//! The words of every message families receive: a request (first, reminder, renewal, at 18) and
//! the confirmation of an answer. Plain text (askama templates under `templates/mail/`), the same
//! whether it goes by email or is printed as a letter.

use askama::Template;

use crate::policy::wording::ConsentWording;
use crate::policy::{Purpose, Reason};
use crate::store::{time_of_ms, Letter};

/// Who sends: the organisation's name and contact, as the settings give them.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The organisation's name (`consentgate` stands in when none is configured).
    pub org: String,
    /// How to reach it with questions.
    pub contact: Option<String>,
}

impl Sender {
    /// The organisation as the settings name it.
    pub fn of(settings: &crate::config::Settings) -> Sender {
        Sender {
            org: settings.organisation_name.clone().unwrap_or_else(|| "consentgate".to_string()),
            contact: settings.organisation_contact.clone(),
        }
    }
}

/// Which request a message asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// The first message of a request.
    First,
    /// A reminder of an unanswered one.
    Reminder,
    /// A renewal: the grant runs out on this day.
    Renewal(String),
    /// A learner's own request on their 18th birthday.
    Adult,
}

#[derive(Template)]
#[template(path = "mail/request.txt", escape = "none")]
struct RequestText<'a> {
    to_name: &'a str,
    first_name: &'a str,
    org: &'a str,
    contact: Option<&'a str>,
    kind: &'a Ask,
    purposes: Vec<String>,
    link: &'a str,
    valid_until: String,
    to_guardian: bool,
}

#[derive(Template)]
#[template(path = "mail/confirmation.txt", escape = "none")]
struct ConfirmationText<'a> {
    to_name: &'a str,
    first_name: &'a str,
    org: &'a str,
    contact: Option<&'a str>,
    given_on: String,
    granted: Vec<String>,
    refused: Vec<String>,
    withdraw_link: Option<&'a str>,
    expires_on: Option<String>,
}

/// The day of `ms` as a person reads it (`1 September 2027`), in the organisation's zone.
pub fn day(ms: i64, zone: crate::policy::zone::Zone) -> String {
    let format = time::macros::format_description!("[day padding:none] [month repr:long] [year]");
    zone.local(time_of_ms(ms)).format(&format).unwrap_or_default()
}

/// The time and day of `ms` as a person reads it (`14:05 on 1 September 2027`), in the
/// organisation's zone.
pub fn moment(ms: i64, zone: crate::policy::zone::Zone) -> String {
    let format = time::macros::format_description!("[hour]:[minute] on [day padding:none] [month repr:long] [year]");
    zone.local(time_of_ms(ms)).format(&format).unwrap_or_default()
}

/// A purpose in the form's words, about the learner `first_name`.
pub fn purpose_words(wording: &ConsentWording, purpose: Purpose, first_name: &str) -> String {
    wording
        .purposes
        .get(&purpose)
        .map_or_else(|| purpose.as_str().to_string(), |w| w.replace("{first_name}", first_name))
}

/// Who a message is to and about.
#[derive(Debug, Clone, Copy)]
pub struct About<'a> {
    /// The addressee's name.
    pub to_name: &'a str,
    /// The name the learner goes by.
    pub first_name: &'a str,
    /// Whether the addressee is a guardian (not the learner).
    pub to_guardian: bool,
}

/// A request's message (first, reminder, renewal or at 18) with its form link.
pub fn request(
    sender: &Sender,
    about: About<'_>,
    kind: &Ask,
    purposes: Vec<String>,
    link: &str,
    valid_until: String,
) -> Letter {
    let subject = match kind {
        Ask::First => format!("Photos of {}: may we use them? Please answer", about.first_name),
        Ask::Reminder => format!("Reminder: photos of {}, please answer", about.first_name),
        Ask::Renewal(_) => format!("Photos of {}: your permission is running out", about.first_name),
        Ask::Adult => "Photos of you: you decide from 18".to_string(),
    };
    let text = RequestText {
        to_name: about.to_name,
        first_name: about.first_name,
        org: &sender.org,
        contact: sender.contact.as_deref(),
        kind,
        purposes,
        link,
        valid_until,
        to_guardian: about.to_guardian,
    };
    Letter { subject: format!("{subject} ({})", sender.org), body: render(&text), link: Some(link.to_string()) }
}

/// What an answer recorded, for its confirmation.
#[derive(Debug, Clone)]
pub struct Answered<'a> {
    /// The day it was given.
    pub given_on: String,
    /// The purposes answered yes, in words.
    pub granted: Vec<String>,
    /// The purposes answered no, in words.
    pub refused: Vec<String>,
    /// The grant's withdrawal link, when something was granted.
    pub withdraw_link: Option<&'a str>,
    /// The day the grant runs out, when it does.
    pub expires_on: Option<String>,
}

/// The confirmation of an answer, with a grant's withdrawal link.
pub fn confirmation(sender: &Sender, about: About<'_>, answered: Answered<'_>) -> Letter {
    let text = ConfirmationText {
        to_name: about.to_name,
        first_name: about.first_name,
        org: &sender.org,
        contact: sender.contact.as_deref(),
        given_on: answered.given_on,
        granted: answered.granted,
        refused: answered.refused,
        withdraw_link: answered.withdraw_link,
        expires_on: answered.expires_on,
    };
    Letter {
        subject: format!("Your answer about photos of {} ({})", about.first_name, sender.org),
        body: render(&text),
        link: answered.withdraw_link.map(str::to_string),
    }
}

#[derive(Template)]
#[template(path = "mail/sign_in.txt", escape = "none")]
struct SignInText<'a> {
    to_name: &'a str,
    org: &'a str,
    role: &'a str,
    invited: bool,
    link: &'a str,
    valid_until: &'a str,
}

/// A member of staff's one-time sign-in link: an invitation (`invited`) or one they asked for.
/// `valid_until` is when it stops working, in words.
pub fn sign_in(sender: &Sender, to_name: &str, role: &str, invited: bool, link: &str, valid_until: &str) -> Letter {
    let text = SignInText { to_name, org: &sender.org, role, invited, link, valid_until };
    let subject = if invited { "Your account: sign in" } else { "Your sign-in link" };
    Letter { subject: format!("{subject} ({})", sender.org), body: render(&text), link: Some(link.to_string()) }
}

/// Joins names the way people write them: "Amira", "Amira and Ben", "Amira, Ben and Chloe".
pub fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Why a takedown is owed, in words, from its reasons: "Consent was withdrawn", "Consent expired
/// and consent was refused"…
pub fn takedown_words(reasons: &[Reason]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for reason in reasons {
        let part = match reason {
            Reason::Withdrawn => "consent was withdrawn",
            Reason::Refused => "consent was refused",
            Reason::Expired => "consent expired",
            // Nothing that counts is on record any more (a birthday, a corrected date of birth).
            Reason::NoConsent | Reason::NeedsGuardian | Reason::NeedsAdultConsent => "consent lapsed",
            Reason::NameInText => "its text names a learner in full",
            Reason::MatchesWithdrawn => "it looks like a photo of a learner who said no",
            Reason::UntaggedPeople | Reason::NoLearnersTagged => "not everyone pictured is tagged",
            // Never owes a takedown on its own (`Reason::takes_back_publication`); listed beside one.
            Reason::LearnerLeft => "a learner pictured has left",
        };
        if !parts.iter().any(|p| p == part) {
            parts.push(part.to_string());
        }
    }
    if parts.is_empty() {
        parts.push("consent no longer holds".to_string());
    }
    capitalised(&and_list(&parts))
}

#[derive(Template)]
#[template(path = "mail/takedown.txt", escape = "none")]
struct TakedownText<'a> {
    to_name: &'a str,
    org: &'a str,
    overdue: bool,
    waited: &'a str,
    place: &'a str,
    purpose: &'a str,
    why: &'a str,
    since: &'a str,
    link: &'a str,
}

/// What a takedown email says about the takedown.
#[derive(Debug, Clone, Copy)]
pub struct TakedownFacts<'a> {
    /// Where it was published: the URL, or the words given for an offline use.
    pub place: &'a str,
    /// The purpose it was published for, in words.
    pub purpose: &'a str,
    /// Why it must come down, in words ([`takedown_words`]).
    pub why: &'a str,
    /// When it became owed, in words.
    pub since: &'a str,
    /// How long it has waited, in words, for an overdue one.
    pub waited: &'a str,
    /// The marketing page's address.
    pub link: &'a str,
}

/// The email to a marketing officer or safeguarding lead that a takedown is owed, or (`overdue`)
/// still owed. It names where the photo went out, never a learner.
pub fn takedown(sender: &Sender, to_name: &str, overdue: bool, facts: TakedownFacts<'_>) -> Letter {
    let text = TakedownText {
        to_name,
        org: &sender.org,
        overdue,
        waited: facts.waited,
        place: facts.place,
        purpose: facts.purpose,
        why: facts.why,
        since: facts.since,
        link: facts.link,
    };
    let subject = if overdue { "Overdue: a photo must still come down" } else { "A photo must come down now" };
    Letter { subject: format!("{subject} ({})", sender.org), body: render(&text), link: Some(facts.link.to_string()) }
}

/// `text` with its first letter in capitals.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn render(template: &impl Template) -> String {
    // The templates are compiled in and take only strings: rendering cannot fail at run time.
    template.render().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Sender {
        Sender { org: "Northfield Training".into(), contact: Some("office@northfield.example".into()) }
    }

    #[test]
    fn a_request_names_the_learner_by_first_name_and_carries_its_link() {
        let about = About { to_name: "Sam Okafor", first_name: "Amira", to_guardian: true };
        let letter = request(
            &sender(),
            about,
            &Ask::First,
            vec!["on our website".into()],
            "https://cg.example/c/abc",
            "1 October 2027".into(),
        );
        assert!(letter.subject.contains("Amira") && letter.subject.contains("Northfield Training"));
        assert!(letter.body.starts_with("Dear Sam Okafor,"), "{}", letter.body);
        assert!(letter.body.contains("https://cg.example/c/abc\n"), "{}", letter.body);
        assert!(letter.body.contains("  - on our website"), "{}", letter.body);
        assert!(letter.body.contains("works until 1 October 2027"));
        assert!(letter.body.contains("parent or carer"));
        assert!(letter.body.contains("office@northfield.example"));
        assert_eq!(letter.link.as_deref(), Some("https://cg.example/c/abc"));
        let adult = request(&sender(), About { to_guardian: false, ..about }, &Ask::Adult, vec![], "l", "d".into());
        assert!(!adult.body.contains("parent or carer") && adult.body.contains("18th birthday"), "{}", adult.body);
        let renewal = request(&sender(), about, &Ask::Renewal("3 March 2028".into()), vec![], "l", "d".into());
        assert!(renewal.body.contains("runs out on 3 March 2028"), "{}", renewal.body);
    }

    #[test]
    fn a_sign_in_letter_carries_its_link_and_says_how_long_it_works() {
        let invite = sign_in(&sender(), "Dana Shaw", "marketing", true, "https://cg.example/signin/link/ab", "8 Dec");
        assert!(invite.subject.starts_with("Your account") && invite.body.starts_with("Dear Dana Shaw,"));
        assert!(invite.body.contains("a marketing account on Northfield Training"), "{}", invite.body);
        assert!(invite.body.contains("https://cg.example/signin/link/ab\n") && invite.body.contains("until 8 Dec"));
        let asked = sign_in(&sender(), "Dana Shaw", "marketing", false, "l", "d");
        assert!(asked.body.contains("you asked for") && !asked.body.contains("account on"), "{}", asked.body);
        assert_eq!(asked.link.as_deref(), Some("l"));
    }

    #[test]
    fn a_confirmation_lists_each_answer_and_the_withdrawal_link_only_for_a_grant() {
        let about = About { to_name: "Sam Okafor", first_name: "Amira", to_guardian: true };
        let both = confirmation(
            &sender(),
            about,
            Answered {
                given_on: "1 September 2027".into(),
                granted: vec!["on our website".into()],
                refused: vec!["in print".into()],
                withdraw_link: Some("https://cg.example/w/xyz"),
                expires_on: Some("1 September 2028".into()),
            },
        );
        assert!(both.body.contains("  - YES: on our website\n  - NO: in print"), "{}", both.body);
        assert!(both.body.contains("https://cg.example/w/xyz") && both.body.contains("1 September 2028"));
        let no = confirmation(
            &sender(),
            about,
            Answered {
                given_on: "1 September 2027".into(),
                granted: vec![],
                refused: vec!["in print".into()],
                withdraw_link: None,
                expires_on: None,
            },
        );
        assert!(!no.body.contains("/w/") && no.body.contains("We will not use photos of Amira"), "{}", no.body);
        assert_eq!(no.link, None);
    }
}
