//! The SMTP server consent requests are sent through: its URL read, its sender checked.

use std::fmt;
use std::time::Duration;

use super::error::{mask_password, ConfigError};
use super::requests::duration_setting;

/// The SMTP server messages are sent through, as configured. [`SmtpSettings::new`] checks all of
/// it; [`SmtpSettings::server`] reads the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// `smtp://[user:password@]host[:port]` (STARTTLS required; plain only to a loopback host) or
    /// `smtps://…` (TLS from the first byte). The user and password are percent-decoded.
    pub url: String,
    /// The sender, `address` or `Name <address>`.
    pub from: String,
    /// The longest one delivery may take, connecting and the whole SMTP exchange included.
    pub timeout: Duration,
}

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP, then `STARTTLS`, which the server must offer: nothing is sent in the clear.
    StartTls,
    /// TLS from the first byte (`smtps://`, usually port 465).
    ImplicitTls,
    /// No encryption: only to a server on this machine (`smtp://` to a loopback address).
    Plain,
}

/// The server named by [`SmtpSettings::url`], read.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// Host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// Port: as given, else 465 for `smtps`, 587 for STARTTLS, 25 for plain SMTP on loopback.
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// The account to sign in with: user name and password, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &mask_password(&self.url))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SmtpSettings {
    /// Checks the URL (see [`SmtpSettings::server`]), the sender's address and the timeout.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<SmtpSettings, ConfigError> {
        let settings = SmtpSettings { url: url.trim().to_string(), from: from.trim().to_string(), timeout };
        settings.server()?;
        settings.sender()?;
        if timeout.is_zero() {
            return Err(ConfigError::Invalid("smtp_timeout must be more than zero".into()));
        }
        Ok(settings)
    }

    /// The sender as a mailbox. Refused unless it is an address, optionally with a display name
    /// (`Name <address>`).
    pub fn sender(&self) -> Result<lettre::message::Mailbox, ConfigError> {
        self.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            ConfigError::Invalid(format!(
                "smtp_from {:?} is not an email address like office@example.org or \"Name <office@example.org>\" ({e})",
                self.from
            ))
        })
    }

    /// Reads the URL. `smtp://` means STARTTLS, required, except to a loopback host (127.0.0.0/8,
    /// `::1`, `localhost`), where it means plain SMTP; `smtps://` means TLS from the first byte.
    /// Any other scheme, a missing host, a path or a query is refused, naming the problem (never
    /// the password).
    pub fn server(&self) -> Result<SmtpServer, ConfigError> {
        let shown = mask_password(&self.url);
        let invalid = |problem: &str| ConfigError::Invalid(format!("smtp_url {shown}: {problem}"));
        let url = url::Url::parse(&self.url).map_err(|e| invalid(&format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(invalid(&format!(
                "the scheme {:?} is not smtp (STARTTLS) or smtps (TLS from the first byte)",
                url.scheme()
            )));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(invalid("no host; write smtp://host:587 or smtps://host:465")),
        };
        // `smtp` is not a scheme the URL standard knows, so an IPv4 address comes back as a name.
        let loopback = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => host.eq_ignore_ascii_case("localhost"),
        };
        let security = match url.scheme() {
            "smtps" => SmtpSecurity::ImplicitTls,
            _ if loopback => SmtpSecurity::Plain,
            _ => SmtpSecurity::StartTls,
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a path, query or fragment is not understood; give only the server and account"));
        }
        let decode = |part: &str, what: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| invalid(&format!("the {what} is not UTF-8 once percent-decoded")))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(invalid("a password without a user name")),
            (_, None) => return Err(invalid("a user name without a password")),
            (user, Some(password)) => Some((decode(user, "user name")?, decode(password, "password")?)),
        };
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::ImplicitTls => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Plain => 25,
        });
        Ok(SmtpServer { host, port, security, credentials })
    }
}

/// The SMTP settings from the chosen values (flags and environment over the file), or `None` when
/// no URL is set.
pub(super) fn resolve(
    url: Option<String>,
    from: Option<String>,
    timeout: Option<&str>,
) -> Result<Option<SmtpSettings>, ConfigError> {
    let Some(url) = url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    // Mail from a made-up sender would be refused or filed as spam: ask rather than guess.
    let from = from.map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).ok_or_else(|| {
        ConfigError::Invalid(
            "an SMTP URL is set without a sender: set CONSENTGATE_SMTP_FROM (or smtp_from in the file) to the \
             address consent requests come from, like \"Example College <office@example.org>\""
                .into(),
        )
    })?;
    let timeout = match timeout {
        None => Duration::from_secs(30),
        Some(text) => duration_setting("smtp_timeout", "CONSENTGATE_SMTP_TIMEOUT", text)?,
    };
    SmtpSettings::new(&url, &from, timeout).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, Settings};

    fn server(url: &str) -> Result<SmtpServer, String> {
        SmtpSettings { url: url.into(), from: "office@example.org".into(), timeout: Duration::from_secs(30) }
            .server()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn smtp_means_starttls_except_to_this_machine() {
        let cases = [
            ("smtp://mail.example.org", SmtpSecurity::StartTls, 587),
            ("smtp://mail.example.org:2525/", SmtpSecurity::StartTls, 2525),
            ("smtp://10.0.0.1:25", SmtpSecurity::StartTls, 25),
            ("smtp://[2001:db8::1]", SmtpSecurity::StartTls, 587),
            ("smtp://localhost.example.org", SmtpSecurity::StartTls, 587),
            ("smtp://127.0.0.1:2525", SmtpSecurity::Plain, 2525),
            ("smtp://127.8.9.10", SmtpSecurity::Plain, 25),
            ("smtp://[::1]:1025", SmtpSecurity::Plain, 1025),
            ("smtp://LocalHost", SmtpSecurity::Plain, 25),
            ("smtps://mail.example.org", SmtpSecurity::ImplicitTls, 465),
            ("smtps://127.0.0.1:4650", SmtpSecurity::ImplicitTls, 4650),
        ];
        for (url, security, port) in cases {
            let server = server(url).unwrap();
            assert_eq!((server.security, server.port), (security, port), "{url}");
            assert!(server.credentials.is_none());
        }
        assert_eq!(server("smtp://[::1]:1025").unwrap().host, "::1");
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let server = server("smtps://me%40example.org:p%40ss%3Aw%C3%B6rd@mail.example.org").unwrap();
        assert_eq!(server.credentials, Some(("me@example.org".into(), "p@ss:wörd".into())));
        let shown = format!("{server:?}");
        assert!(shown.contains("me@example.org") && !shown.contains("ss:w"), "{shown}");
    }

    #[test]
    fn other_urls_are_refused_naming_the_problem_and_never_the_password() {
        let cases = [
            ("http://mail.example.org", "scheme"),
            ("smtp:mail.example.org", "no host"),
            ("smtp://", "no host"),
            ("smtp://exa mple.org", "not a URL"),
            ("mail.example.org:587", "scheme"),
            ("smtp://mail.example.org/inbox", "path"),
            ("smtp://mail.example.org?tls=none", "query"),
            ("smtp://me@mail.example.org", "without a password"),
            ("smtp://:hunter2@mail.example.org", "without a user name"),
            ("smtp://me:hunter2@mail.example.org?tls=none", "query"),
        ];
        for (url, problem) in cases {
            let err = server(url).unwrap_err();
            assert!(err.contains("smtp_url") && err.contains(problem), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn the_sender_must_be_an_address() {
        for good in ["office@example.org", "Example College <office@example.org>", "\"Smith, Jo\" <jo@example.org>"] {
            SmtpSettings::new("smtp://127.0.0.1", good, Duration::from_secs(1)).unwrap();
        }
        for bad in ["office", "Example College", "Name <>", "a@b@c"] {
            let err = SmtpSettings::new("smtp://127.0.0.1", bad, Duration::from_secs(1)).unwrap_err().to_string();
            assert!(err.contains("smtp_from"), "{bad}: {err}");
        }
        let err = SmtpSettings::new("smtp://127.0.0.1", "a@b.org", Duration::ZERO).unwrap_err().to_string();
        assert!(err.contains("smtp_timeout"), "{err}");
    }

    #[test]
    fn mail_is_off_without_a_url_and_needs_a_sender_with_one() {
        assert!(Settings::resolve(&Overrides::default()).unwrap().mail.is_none());
        let from_only = Overrides { smtp_from: Some("a@b.org".into()), ..Default::default() };
        assert!(Settings::resolve(&from_only).unwrap().mail.is_none());
        let empty = Overrides { smtp_url: Some(" ".into()), ..Default::default() };
        assert!(Settings::resolve(&empty).unwrap().mail.is_none());
        let no_from = Overrides { smtp_url: Some("smtp://127.0.0.1:2525".into()), ..Default::default() };
        let err = Settings::resolve(&no_from).unwrap_err().to_string();
        assert!(err.contains("CONSENTGATE_SMTP_FROM") && err.contains("smtp_from"), "{err}");
    }

    #[test]
    fn smtp_settings_come_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "smtp_url = \"smtps://relay:hunter2@mail.example.org\"\nsmtp_from = \"College <office@example.org>\"\n\
             smtp_timeout = \"1m\"\n",
        )
        .unwrap();
        let from_file = Settings::resolve(&Overrides { config: Some(path.clone()), ..Default::default() }).unwrap();
        let mail = from_file.mail.clone().unwrap();
        assert_eq!((mail.from.as_str(), mail.timeout), ("College <office@example.org>", Duration::from_secs(60)));
        assert_eq!(mail.server().unwrap().security, SmtpSecurity::ImplicitTls);
        let shown = format!("{from_file:?}");
        assert!(!shown.contains("hunter2") && shown.contains("relay:***@mail.example.org"), "{shown}");
        let o = Overrides {
            config: Some(path.clone()),
            smtp_url: Some("smtp://127.0.0.1:2525".into()),
            smtp_timeout: Some("2s".into()),
            ..Default::default()
        };
        let mail = Settings::resolve(&o).unwrap().mail.unwrap();
        assert_eq!((mail.url.as_str(), mail.timeout), ("smtp://127.0.0.1:2525", Duration::from_secs(2)));
        assert_eq!(mail.from, "College <office@example.org>", "the file's sender stays");
        let default_timeout = Overrides {
            smtp_url: Some("smtp://127.0.0.1".into()),
            smtp_from: Some("a@b.org".into()),
            ..Default::default()
        };
        assert_eq!(Settings::resolve(&default_timeout).unwrap().mail.unwrap().timeout, Duration::from_secs(30));
        let o = Overrides { config: Some(path), smtp_timeout: Some("soon".into()), ..Default::default() };
        let err = Settings::resolve(&o).unwrap_err().to_string();
        assert!(err.contains("smtp_timeout") && err.contains("soon"), "{err}");
    }
}
