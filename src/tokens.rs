//! API tokens: `cg_<id>_<secret>`, a public id to find the row and a 256-bit secret of which only
//! the blake3 is stored and which is compared in constant time.

use crate::store::{now_ms, Role, TokenRecord};

/// A token as shown once to its holder, and the record that is stored.
pub struct NewToken {
    /// The whole token: give it to the user, then forget it.
    pub token: String,
    /// What the store keeps.
    pub record: TokenRecord,
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex::encode(bytes)
}

/// The hash under which a secret is stored.
pub fn hash_secret(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

/// Makes a new random token for `role` held by `name`.
pub fn generate(role: Role, name: &str) -> NewToken {
    let id = random_hex::<12>();
    let secret = random_hex::<32>();
    let record = TokenRecord {
        id: id.clone(),
        role,
        name: name.to_string(),
        secret_hash: hash_secret(&secret),
        created_at: now_ms(),
        expires_at: None,
        revoked_at: None,
        email: None,
    };
    NewToken { token: format!("cg_{id}_{secret}"), record }
}

/// Splits a presented token into id and secret; `None` when it is not of our shape.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("cg_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 24) && hex(secret, 64)).then_some((id, secret))
}

/// Whether `secret` is the one stored as `record`'s hash, compared in constant time.
pub fn verify(record: &TokenRecord, secret: &str) -> bool {
    constant_time_eq::constant_time_eq(hash_secret(secret).as_bytes(), record.secret_hash.as_bytes())
}

/// Whether a token (and every session opened with it) still works at `now_ms`: not revoked,
/// and not past its expiry.
pub fn live_at(record: &TokenRecord, now_ms: i64) -> bool {
    is_live(record.revoked_at, record.expires_at, now_ms)
}

/// [`live_at`] from a token's revocation and expiry times alone.
pub fn is_live(revoked_at: Option<i64>, expires_at: Option<i64>, now_ms: i64) -> bool {
    revoked_at.is_none() && expires_at.is_none_or(|expires| now_ms < expires)
}

/// The longest lifetime a token may be given: ten years (beyond that, "never" says it better).
pub const MAX_LIFETIME_MS: i64 = 10 * 366 * 24 * 3600 * 1000;

/// Parses a token lifetime such as `90d`, `12h` or `2w` (a whole number and one unit: `h` hours,
/// `d` days, `w` weeks) into milliseconds; the message says what was wrong.
pub fn parse_lifetime(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let shape = || format!("{text:?} is not a lifetime: give a whole number and a unit, such as 90d, 12h or 2w");
    let split = text.len().checked_sub(1).filter(|&at| text.is_char_boundary(at)).ok_or_else(shape)?;
    let (number, unit) = text.split_at(split);
    let unit_ms: i64 = match unit {
        "h" => 3600 * 1000,
        "d" => 24 * 3600 * 1000,
        "w" => 7 * 24 * 3600 * 1000,
        _ => return Err(shape()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(shape());
    }
    let count: i64 = number.parse().map_err(|_| shape())?;
    match count.checked_mul(unit_ms) {
        Some(0) => Err(format!("{text:?}: a token must live longer than that")),
        Some(ms) if ms <= MAX_LIFETIME_MS => Ok(ms),
        _ => Err(format!("{text:?} is longer than ten years: leave the expiry out for a token that never expires")),
    }
}

/// A new withdrawal-link token (256 random bits, hex) and the blake3 hash that is all the
/// database keeps of it.
pub fn new_withdrawal_token() -> (String, String) {
    let token = random_hex::<32>();
    let hash = hash_secret(&token);
    (token, hash)
}

/// The hash to look a withdrawal token up by; `None` when it cannot be one of ours.
pub fn withdrawal_token_hash(token: &str) -> Option<String> {
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash_secret(&token.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_parses_and_verifies() {
        let t = generate(Role::Tutor, "Sam");
        let (id, secret) = parse(&t.token).unwrap();
        assert_eq!(id, t.record.id);
        assert!(verify(&t.record, secret));
        assert!(!t.record.secret_hash.contains(secret));
        let other = generate(Role::Tutor, "Sam");
        assert_ne!(t.token, other.token);
        let (_, other_secret) = parse(&other.token).unwrap();
        assert!(!verify(&t.record, other_secret));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "cg_", "cg_abc_def", "xx_000000000000000000000000_".to_string().as_str(), "Bearer cg_1_2"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn lifetimes_take_hours_days_and_weeks() {
        assert_eq!(parse_lifetime("90d"), Ok(90 * 24 * 3600 * 1000));
        assert_eq!(parse_lifetime(" 12h "), Ok(12 * 3600 * 1000));
        assert_eq!(parse_lifetime("2w"), Ok(14 * 24 * 3600 * 1000));
        for bad in ["", "d", "90", "90m", "-1d", "+1d", "1.5d", "0d", "99999999999999w", "3650000d", "9é"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revoked_and_expired_tokens_are_not_live() {
        let mut t = generate(Role::Tutor, "Sam").record;
        assert!(live_at(&t, i64::MAX));
        t.expires_at = Some(1000);
        assert!(live_at(&t, 999) && !live_at(&t, 1000));
        t.expires_at = None;
        t.revoked_at = Some(5);
        assert!(!live_at(&t, 0));
    }

    #[test]
    fn withdrawal_tokens_are_looked_up_by_hash_only() {
        let (token, hash) = new_withdrawal_token();
        assert_eq!(withdrawal_token_hash(&token), Some(hash.clone()));
        assert_eq!(withdrawal_token_hash(&token.to_uppercase()), Some(hash.clone()));
        assert!(!hash.contains(&token));
        assert_eq!(withdrawal_token_hash("short"), None);
        assert_eq!(withdrawal_token_hash(&"g".repeat(64)), None);
        assert_ne!(new_withdrawal_token().0, token);
    }
}
