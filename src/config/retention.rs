//! How long personal data is kept: each retention rule's duration, or `off`.

use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::requests::duration_setting;
use crate::policy::retention::RetentionRules;

/// The `[retention]` table: each rule a duration like `90d` or `2s`, or `off`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    /// See [`RetentionRules::held_photo`].
    pub held_photo: Option<String>,
    /// See [`RetentionRules::after_leaving`].
    pub after_leaving: Option<String>,
    /// See [`RetentionRules::learner_record_after_leaving`].
    pub learner_record_after_leaving: Option<String>,
}

const DAY: u64 = 24 * 60 * 60;

/// The rules from the chosen texts (environment over the file), each `None` keeping its default:
/// `held_photo` 90 days, `after_leaving` 365 days, `learner_record_after_leaving` 6 years.
pub(super) fn resolve(
    held_photo: Option<&str>,
    after_leaving: Option<&str>,
    learner_record_after_leaving: Option<&str>,
) -> Result<RetentionRules, ConfigError> {
    Ok(RetentionRules {
        held_photo: rule(held_photo, "retention.held_photo", "CONSENTGATE_RETENTION_HELD_PHOTO", 90 * DAY)?,
        after_leaving: rule(
            after_leaving,
            "retention.after_leaving",
            "CONSENTGATE_RETENTION_AFTER_LEAVING",
            365 * DAY,
        )?,
        learner_record_after_leaving: rule(
            learner_record_after_leaving,
            "retention.learner_record_after_leaving",
            "CONSENTGATE_RETENTION_LEARNER_RECORD_AFTER_LEAVING",
            crate::policy::retention::SIX_YEARS.as_secs(),
        )?,
    })
}

/// One rule: `off` (never applied), a duration, or the default. Zero is refused: it would delete
/// a photo the moment it is uploaded, which is a typing mistake rather than a policy.
fn rule(text: Option<&str>, key: &str, var: &str, default_secs: u64) -> Result<Option<Duration>, ConfigError> {
    match text {
        None => Ok(Some(Duration::from_secs(default_secs))),
        Some(text) if text.trim().eq_ignore_ascii_case("off") => Ok(None),
        Some(text) => {
            let value = duration_setting(key, var, text)?;
            if value.is_zero() {
                return Err(ConfigError::Invalid(format!("{key} ({var}) must be more than zero, or off")));
            }
            Ok(Some(value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_durations_off_and_mistakes() {
        let defaults = resolve(None, None, None).unwrap();
        assert_eq!(defaults, RetentionRules::default());
        assert_eq!(defaults.held_photo, Some(Duration::from_secs(90 * DAY)));
        assert_eq!(defaults.after_leaving, Some(Duration::from_secs(365 * DAY)));
        assert_eq!(defaults.learner_record_after_leaving, humantime::parse_duration("6years").ok());
        let set = resolve(Some("2s"), Some(" OFF "), Some("3s")).unwrap();
        assert_eq!((set.held_photo, set.after_leaving), (Some(Duration::from_secs(2)), None));
        assert_eq!(set.learner_record_after_leaving, Some(Duration::from_secs(3)));
        for bad in ["0s", "soon", ""] {
            let err = resolve(Some(bad), None, None).unwrap_err().to_string();
            assert!(err.contains("retention.held_photo") && err.contains("CONSENTGATE_RETENTION_HELD_PHOTO"), "{err}");
        }
    }
}
