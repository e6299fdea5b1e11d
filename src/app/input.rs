//! Checks on values that arrive in paths, queries and forms, before they reach a database that
//! would refuse them with an internal error (PostgreSQL rejects NUL in text). Both edges (the
//! JSON API and the pages) apply the same ones through the use cases.

use super::AppError;

/// Whether `value` holds a control character other than the line breaks and tabs a caption may
/// use.
pub fn has_forbidden_control(value: &str) -> bool {
    value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Whether `c` reorders how text is shown (the bidirectional marks, embeddings, overrides and
/// isolates): in a text kept as evidence or a reason, "Gwen" could be stored to read as something
/// else.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A free text (caption, alt text): at most `max` characters, no control characters but line
/// breaks and tabs.
pub fn free_text(field: &str, value: String, max: usize) -> Result<String, AppError> {
    if value.chars().count() > max {
        return Err(AppError::invalid_field(field, format!("{field} is longer than {max} characters")));
    }
    if has_forbidden_control(&value) {
        return Err(AppError::invalid_field(field, format!("{field} contains control characters")));
    }
    Ok(value)
}

/// An id from a path: our ids are UUIDs, so anything else names nothing. Returns the id in its
/// canonical form.
pub fn path_id(value: &str, what: &'static str) -> Result<String, AppError> {
    uuid::Uuid::try_parse(value).map(|id| id.to_string()).map_err(|_| AppError::NotFound(what))
}

/// An id a client refers to in a body or form; `None` when it cannot be one of ours.
pub fn body_id(value: &str) -> Option<String> {
    uuid::Uuid::try_parse(value.trim()).ok().map(|id| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_but_line_breaks_pass() {
        assert!(free_text("caption", "Amira at the\r\n\tworkshop".into(), 100).is_ok());
        assert!(free_text("caption", "nul\0here".into(), 100).is_err());
        assert!(free_text("caption", "bell\u{7}".into(), 100).is_err());
        assert!(free_text("caption", "c1\u{85}".into(), 100).is_err());
        assert!(free_text("caption", "é".repeat(101), 100).is_err());
    }

    #[test]
    fn ids_must_be_uuids() {
        let id = "0192f0c4-4b1e-7c3a-9d2e-1234567890ab";
        assert_eq!(path_id(id, "photo").unwrap(), id);
        assert_eq!(path_id(&id.to_uppercase(), "photo").unwrap(), id);
        assert!(matches!(path_id("x\0y", "photo"), Err(AppError::NotFound("photo"))));
        assert_eq!(body_id(" 0192F0C4-4B1E-7C3A-9D2E-1234567890AB "), Some(id.to_string()));
        assert_eq!(body_id("robert'); drop table"), None);
    }
}
