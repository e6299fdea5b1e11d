//! When consent requests are reminded, renewed and run out, and the words of the online form.

use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use crate::policy::wording::ConsentWording;
use crate::policy::Purpose;

/// The timings of consent requests, each written like `7d`, `12h` or `30s` in the file and the
/// environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTimings {
    /// How long after a request (or the last reminder) an unanswered recipient is reminded.
    /// Default 7 days; never zero.
    pub reminder_after: Duration,
    /// At most this many reminders per recipient (default 2; 0 for none).
    pub max_reminders: u32,
    /// How long before a grant expires its renewal is requested (default 30 days).
    pub renewal_notice: Duration,
    /// How long a request's links can be answered (default 30 days); never zero.
    pub request_valid_for: Duration,
    /// How long a grant answered on the online form lasts (default 365 days); `None` (`never`):
    /// until withdrawn.
    pub consent_valid_for: Option<Duration>,
}

impl Default for RequestTimings {
    fn default() -> RequestTimings {
        const DAY: u64 = 24 * 60 * 60;
        RequestTimings {
            reminder_after: Duration::from_secs(7 * DAY),
            max_reminders: 2,
            renewal_notice: Duration::from_secs(30 * DAY),
            request_valid_for: Duration::from_secs(30 * DAY),
            consent_valid_for: Some(Duration::from_secs(365 * DAY)),
        }
    }
}

/// Names of one timing's sources, for messages: the file key and the environment variable.
struct Source {
    key: &'static str,
    var: &'static str,
}

/// The value of one timing: the chosen text (flags and environment over the file) read, or the
/// default.
fn timing(text: Option<&str>, source: Source, default: Duration) -> Result<Duration, ConfigError> {
    text.map_or(Ok(default), |text| duration_setting(source.key, source.var, text))
}

impl RequestTimings {
    /// The timings from the chosen texts (flags and environment over the file), each `None` keeping
    /// its default. Zero is refused for `reminder_after`, `request_valid_for` and
    /// `consent_valid_for` (a grant that lapses the moment it is given is a typing mistake; `never`
    /// is the way to say it never lapses).
    pub(super) fn resolve(
        reminder_after: Option<&str>,
        max_reminders: Option<u32>,
        renewal_notice: Option<&str>,
        request_valid_for: Option<&str>,
        consent_valid_for: Option<&str>,
    ) -> Result<RequestTimings, ConfigError> {
        let default = RequestTimings::default();
        let reminder_after = timing(
            reminder_after,
            Source { key: "reminder_after", var: "CONSENTGATE_REMINDER_AFTER" },
            default.reminder_after,
        )?;
        let renewal_notice = timing(
            renewal_notice,
            Source { key: "renewal_notice", var: "CONSENTGATE_RENEWAL_NOTICE" },
            default.renewal_notice,
        )?;
        let request_valid_for = timing(
            request_valid_for,
            Source { key: "request_valid_for", var: "CONSENTGATE_REQUEST_VALID_FOR" },
            default.request_valid_for,
        )?;
        let consent_valid_for = match consent_valid_for {
            None => default.consent_valid_for,
            Some(text) if text.trim().eq_ignore_ascii_case("never") => None,
            Some(text) => Some(nonzero(
                duration_setting("consent_valid_for", "CONSENTGATE_CONSENT_VALID_FOR", text)?,
                "consent_valid_for (write never for no expiry)",
            )?),
        };
        Ok(RequestTimings {
            reminder_after: nonzero(reminder_after, "reminder_after")?,
            max_reminders: max_reminders.unwrap_or(default.max_reminders),
            renewal_notice,
            request_valid_for: nonzero(request_valid_for, "request_valid_for")?,
            consent_valid_for,
        })
    }
}

/// A duration written like `7d`, `12h` or `30s`; a bad one is refused naming the file key and
/// the environment variable that may have held it.
pub(super) fn duration_setting(key: &str, var: &str, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        ConfigError::Invalid(format!("{key} ({var}): {text:?} is not a duration like 7d, 12h or 30s ({e})"))
    })
}

/// `value`, unless it is zero.
pub(super) fn nonzero(value: Duration, key: &str) -> Result<Duration, ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::Invalid(format!("{key} must be more than zero")));
    }
    Ok(value)
}

/// The `[consent_form]` table: the organisation's text and each purpose's line; whatever is left
/// out (or blank) keeps its default (see [`crate::policy::wording`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentFormFile {
    /// See [`ConsentWording::text`].
    pub text: Option<String>,
    /// The line for [`Purpose::Website`].
    pub website: Option<String>,
    /// The line for [`Purpose::SocialMedia`].
    pub social_media: Option<String>,
    /// The line for [`Purpose::Print`].
    pub print: Option<String>,
    /// The line for [`Purpose::Internal`].
    pub internal: Option<String>,
}

impl ConsentFormFile {
    /// The wording: these words over the defaults.
    pub(super) fn wording(self) -> ConsentWording {
        ConsentWording::with(
            non_blank(self.text),
            [
                (Purpose::Website, non_blank(self.website)),
                (Purpose::SocialMedia, non_blank(self.social_media)),
                (Purpose::Print, non_blank(self.print)),
                (Purpose::Internal, non_blank(self.internal)),
            ],
        )
    }
}

/// A text, trimmed; an empty one counts as not given.
fn non_blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, Settings};

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn with_file(text: &str, o: Overrides) -> Result<Settings, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Settings::resolve(&Overrides { config: Some(path), ..o }).map_err(|e| e.to_string())
    }

    #[test]
    fn the_defaults() {
        let timings = Settings::resolve(&Overrides::default()).unwrap().requests;
        assert_eq!(timings, RequestTimings::default());
        assert_eq!(
            (timings.reminder_after, timings.max_reminders, timings.renewal_notice, timings.request_valid_for),
            (7 * DAY, 2, 30 * DAY, 30 * DAY)
        );
        assert_eq!(timings.consent_valid_for, Some(365 * DAY));
    }

    #[test]
    fn timings_come_from_the_file_and_the_environment_over_it() {
        let file = "reminder_after = \"3d 12h\"\nmax_reminders = 5\nrenewal_notice = \"2weeks\"\n\
                    request_valid_for = \"10d\"\nconsent_valid_for = \"never\"\n";
        let timings = with_file(file, Overrides::default()).unwrap().requests;
        assert_eq!(timings.reminder_after, 3 * DAY + DAY / 2);
        assert_eq!((timings.max_reminders, timings.renewal_notice), (5, 14 * DAY));
        assert_eq!((timings.request_valid_for, timings.consent_valid_for), (10 * DAY, None));
        let o = Overrides {
            reminder_after: Some("12h".into()),
            max_reminders: Some(0),
            consent_valid_for: Some("730d".into()),
            ..Default::default()
        };
        let timings = with_file(file, o).unwrap().requests;
        assert_eq!((timings.reminder_after, timings.max_reminders), (DAY / 2, 0));
        assert_eq!((timings.consent_valid_for, timings.request_valid_for), (Some(730 * DAY), 10 * DAY));
    }

    #[test]
    fn bad_and_zero_timings_are_refused_naming_the_key() {
        for (o, key) in [
            (Overrides { reminder_after: Some("a week".into()), ..Default::default() }, "reminder_after"),
            (Overrides { reminder_after: Some("0s".into()), ..Default::default() }, "reminder_after"),
            (Overrides { request_valid_for: Some("0d".into()), ..Default::default() }, "request_valid_for"),
            (Overrides { renewal_notice: Some("30".into()), ..Default::default() }, "renewal_notice"),
            (Overrides { consent_valid_for: Some("forever".into()), ..Default::default() }, "consent_valid_for"),
            (Overrides { consent_valid_for: Some("0s".into()), ..Default::default() }, "consent_valid_for"),
        ] {
            let err = Settings::resolve(&o).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let err = with_file("reminder_after = \"soon\"\n", Overrides::default()).unwrap_err();
        assert!(err.contains("reminder_after") && err.contains("CONSENTGATE_REMINDER_AFTER"), "{err}");
        let err = with_file("reminder_after = 7\n", Overrides::default()).unwrap_err();
        assert!(err.contains("reminder_after"), "{err}");
        // No reminders and no renewal notice are policies, not mistakes.
        let o = Overrides { renewal_notice: Some("0s".into()), max_reminders: Some(0), ..Default::default() };
        assert_eq!(Settings::resolve(&o).unwrap().requests.renewal_notice, Duration::ZERO);
    }

    #[test]
    fn the_form_words_come_from_the_file_over_the_defaults() {
        let file =
            "[consent_form]\ntext = \"\"\"\nWe take photos at our events.\n\"\"\"\nprint = \"In our yearbook.\"\n\
                    website = \"  \"\n";
        let wording = with_file(file, Overrides::default()).unwrap().consent_form;
        assert_eq!(wording.text, "We take photos at our events.");
        assert_eq!(wording.purposes[&Purpose::Print], "In our yearbook.");
        let default = ConsentWording::default();
        for purpose in [Purpose::Website, Purpose::SocialMedia, Purpose::Internal] {
            assert_eq!(wording.purposes[&purpose], default.purposes[&purpose], "{purpose} keeps its default");
        }
        assert_eq!(Settings::resolve(&Overrides::default()).unwrap().consent_form, default);
        let err = with_file("[consent_form]\nbillboard = \"On the M25.\"\n", Overrides::default()).unwrap_err();
        assert!(err.contains("billboard"), "{err}");
    }
}
