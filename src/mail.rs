//! The SMTP adapter: delivers one message at a time per connection, and keeps connections open for
//! the next message.
//!
//! lettre's own pool is not used: its async client bounds only the TCP connect by the timeout, so
//! the whole delivery is bounded here, and a delivery cut off by that bound must not hand a
//! half-finished SMTP exchange back to a pool (the next message would read the previous one's
//! replies). Here a connection goes back to the idle list only after a delivery that finished;
//! one cut off is dropped with the future that held it, which closes the socket.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0};
use lettre::message::{Body, Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;

use crate::config::{ConfigError, SmtpSecurity, SmtpServer, SmtpSettings};

/// One message to deliver. Its `Debug` shows the id alone: the rest names a family.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    /// The outbox row's id: the local part of the `Message-ID`, so a message sent again after a
    /// crash (delivered, but not yet marked sent) can be recognised as the same message. Letters,
    /// digits, `.`, `-` and `_` only.
    pub id: String,
    /// The recipient's name, shown as the `To` display name (any characters).
    pub to_name: String,
    /// The recipient's address.
    pub to_address: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body, lines ending in `\n`. Line breaks at its very end are not sent: the
    /// message ends with exactly one (the SMTP end of data ends its last line).
    pub body: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Why a delivery failed. The text is what the server replied or what went wrong on the way; it
/// never holds the message's body, and an address only where the server's reply quoted it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: the server was unreachable, slow, refused TLS, refused or wanted
    /// our account (5xx replies while connecting and signing in, and 530), or answered with 4xx.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Trying again will not help: the server refused the message or its recipient with a 5xx
    /// reply, or the address is not an email address.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Why a [`Mailer`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP settings do not hold up.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// TLS could not be set up (the system's CA certificates could not be used).
    #[error("cannot set up TLS for the SMTP server: {0}")]
    Tls(String),
}

/// At most this many idle connections are kept; more are closed after their delivery.
const MAX_IDLE: usize = 16;

/// An idle connection older than this is closed rather than reused: servers drop idle clients
/// after a few minutes, and a stale connection would cost a failed NOOP before each reuse.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// Sends mail through one SMTP server. Share it (`Arc`) between concurrent senders: each send
/// uses a connection of its own, reusing an idle one when there is one.
pub struct Mailer {
    server: SmtpServer,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    from: Mailbox,
    domain: String,
    timeout: Duration,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

/// Whether `address` is one an SMTP server can be given (lettre's own parse, the one sending
/// uses): an address it would refuse at send time is refused when it is typed instead.
pub fn deliverable(address: &str) -> bool {
    address.parse::<Address>().is_ok()
}

impl Mailer {
    /// A mailer for the configured server. Connects to nothing yet.
    pub fn new(settings: &SmtpSettings) -> Result<Mailer, MailError> {
        let server = settings.server()?;
        let from = settings.sender()?;
        if settings.timeout.is_zero() {
            return Err(ConfigError::Invalid("smtp_timeout must be more than zero".into()).into());
        }
        let tls = match server.security {
            SmtpSecurity::Plain => None,
            SmtpSecurity::StartTls | SmtpSecurity::ImplicitTls => {
                Some(TlsParameters::new(server.host.clone()).map_err(|e| MailError::Tls(e.to_string()))?)
            }
        };
        let credentials = server.credentials.clone().map(|(user, password)| Credentials::new(user, password));
        Ok(Mailer {
            tls,
            credentials,
            hello: ClientId::default(),
            domain: from.email.domain().to_string(),
            from,
            timeout: settings.timeout,
            server,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The `Message-ID` a message with this id is sent with: `<{id}@{domain of the From address}>`.
    pub fn message_id(&self, id: &str) -> String {
        format!("<{id}@{}>", self.domain)
    }

    /// Delivers `mail`, within the configured timeout (connecting, TLS, signing in and the whole
    /// exchange). The server has the message once this returns `Ok`.
    pub async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = self.message(mail)?;
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        match tokio::time::timeout(self.timeout, self.deliver(&envelope, &bytes)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SendError::Temporary(format!(
                "the SMTP server {}:{} did not finish within {}",
                self.server.host,
                self.server.port,
                humantime::format_duration(self.timeout)
            ))),
        }
    }

    /// The message as it goes on the wire: plain UTF-8 text in 7-bit ASCII (see [`body`]), so no
    /// 8BITMIME support is needed.
    fn message(&self, mail: &Mail) -> Result<Message, SendError> {
        let id_ok = !mail.id.is_empty()
            && mail.id.len() <= 200
            && mail.id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !id_ok {
            return Err(SendError::Permanent("the message's id cannot be used in a Message-ID".into()));
        }
        // The address itself is not repeated: the error is stored and shown on the admin page.
        let address: Address = mail
            .to_address
            .trim()
            .parse()
            .map_err(|_| SendError::Permanent("the recipient's address is not a valid email address".into()))?;
        let name = mail.to_name.trim();
        let to = Mailbox::new((!name.is_empty()).then(|| name.to_string()), address);
        Message::builder()
            .message_id(Some(self.message_id(&mail.id)))
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .header(MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            // RFC 3834: auto-responders (out-of-office replies) should not answer.
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()))
            .body(body(&mail.body))
            .map_err(|e| SendError::Permanent(format!("the message cannot be built: {e}")))
    }

    async fn deliver(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let mut connection = self.connection().await?;
        match connection.send(envelope, bytes).await {
            Ok(_) => {
                self.park(connection);
                Ok(())
            }
            // lettre has already closed the connection (QUIT) after a failed command.
            // 530 "authentication required" is about our settings (no account given), not the
            // message: like a refused sign-in, it can go once they are fixed.
            Err(e) if e.status().map(u16::from) == Some(530) => Err(SendError::Temporary(e.to_string())),
            Err(e) if e.is_permanent() || e.is_client() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Temporary(e.to_string())),
        }
    }

    /// An idle connection that still answers NOOP, else a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
            match idle {
                Some((mut connection, since)) if since.elapsed() < IDLE_LIMIT => {
                    if connection.test_connected().await {
                        return Ok(connection);
                    }
                }
                Some(_) => {}
                None => return self.connect().await,
            }
        }
    }

    /// Connects, secures and signs in. Every failure here is temporary, 5xx replies included: a
    /// server that is down, refuses TLS or our account is a problem with the settings or the
    /// server, not with the message, which can go once that is fixed.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let server = &self.server;
        let failed = |what: &str, e: lettre::transport::smtp::Error| {
            SendError::Temporary(format!("{what} the SMTP server {}:{}: {e}", server.host, server.port))
        };
        let address = (server.host.as_str(), server.port);
        let implicit = match server.security {
            SmtpSecurity::ImplicitTls => self.tls.clone(),
            SmtpSecurity::StartTls | SmtpSecurity::Plain => None,
        };
        let mut connection =
            AsyncSmtpConnection::connect_tokio1(address, Some(self.timeout), &self.hello, implicit, None)
                .await
                .map_err(|e| failed("cannot connect to", e))?;
        if server.security == SmtpSecurity::StartTls {
            if !connection.can_starttls() {
                connection.abort().await;
                return Err(SendError::Temporary(format!(
                    "the SMTP server {}:{} does not offer STARTTLS, which smtp:// to another machine requires \
                     (use smtps:// for a server that speaks TLS from the start)",
                    server.host, server.port
                )));
            }
            let tls = self.tls.clone().expect("STARTTLS has TLS parameters");
            connection.starttls(tls, &self.hello).await.map_err(|e| failed("cannot start TLS with", e))?;
        }
        if let Some(credentials) = &self.credentials {
            if let Err(e) = connection.auth(&[Mechanism::Plain, Mechanism::Login], credentials).await {
                connection.abort().await;
                return Err(failed("cannot sign in to", e));
            }
        }
        Ok(connection)
    }

    /// Keeps a connection whose delivery finished for the next message, or closes it when enough
    /// are kept.
    fn park(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        idle.retain(|(_, since)| since.elapsed() < IDLE_LIMIT);
        if idle.len() < MAX_IDLE && !connection.has_broken() {
            idle.push((connection, Instant::now()));
        } else {
            drop(idle);
            let timeout = self.timeout;
            let mut connection = connection;
            tokio::spawn(async move {
                let _ = tokio::time::timeout(timeout, connection.quit()).await;
            });
        }
    }
}

/// The body as sent: 7-bit when the text is ASCII with short lines, else quoted-printable (never
/// base64, which lettre picks for text that is mostly not Latin: quoted-printable keeps every
/// message's end the same and its raw form half readable).
fn body(text: &str) -> Body {
    // lettre ends the data with CRLF . CRLF after the body as given, so a body that already ends in
    // a line break would arrive with an empty line more than it was written with.
    let text = text.trim_end_matches(['\r', '\n']).to_string();
    let body = Body::new(text.clone());
    if body.encoding() == ContentTransferEncoding::Base64 {
        return Body::new_with_encoding(text, ContentTransferEncoding::QuotedPrintable)
            .unwrap_or_else(|_| unreachable!("quoted-printable takes any text"));
    }
    body
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(from: &str) -> Mailer {
        Mailer::new(&SmtpSettings::new("smtp://127.0.0.1:2525", from, Duration::from_secs(2)).unwrap()).unwrap()
    }

    fn mail() -> Mail {
        Mail {
            id: "01J9Z8.abc_def-1".into(),
            to_name: "Smith, \"Jo\" Zoë".into(),
            to_address: "parent@example.net".into(),
            subject: "Photo consent for Zoë\r\nBcc: someone@example.com".into(),
            body: "Hello Zoë's family,\nhttps://example.org/c/".to_string() + &"x".repeat(120) + "\n",
        }
    }

    #[test]
    fn the_message_id_uses_the_senders_domain() {
        let mailer = mailer("Example College <office@college.example.org>");
        assert_eq!(mailer.message_id("abc-1"), "<abc-1@college.example.org>");
    }

    #[test]
    fn headers_are_encoded_and_cannot_be_injected() {
        let mailer = mailer("office@college.example.org");
        let raw = String::from_utf8(mailer.message(&mail()).unwrap().formatted()).unwrap();
        assert!(raw.is_ascii(), "{raw}");
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(headers.contains("Message-ID: <01J9Z8.abc_def-1@college.example.org>"), "{headers}");
        assert!(headers.contains("Auto-Submitted: auto-generated"), "{headers}");
        assert!(headers.contains("Content-Type: text/plain; charset=utf-8"), "{headers}");
        assert!(!headers.lines().any(|line| line.to_ascii_lowercase().starts_with("bcc:")), "{headers}");
        assert!(!raw.contains("Bcc: someone"), "{raw}");
    }

    #[test]
    fn bad_addresses_and_ids_are_permanent_and_name_no_address() {
        let mailer = mailer("office@college.example.org");
        let bad = Mail { to_address: "parent at example.net".into(), ..mail() };
        match mailer.message(&bad) {
            Err(SendError::Permanent(why)) => assert!(!why.contains("parent"), "{why}"),
            other => panic!("{other:?}"),
        }
        let bad = Mail { id: "a b>".into(), ..mail() };
        assert!(matches!(mailer.message(&bad), Err(SendError::Permanent(_))));
    }

    #[test]
    fn a_mailer_can_be_shared_between_tasks_and_hides_the_family_in_debug() {
        fn shareable<T: Send + Sync + 'static>(_: &T) {}
        fn spawnable<F: std::future::Future + Send>(_: F) {}
        let mailer = mailer("office@college.example.org");
        shareable(&mailer);
        let mail = mail();
        spawnable(mailer.send(&mail));
        let shown = format!("{mail:?}");
        assert!(shown.contains("01J9Z8") && !shown.contains("parent") && !shown.contains("Zo"), "{shown}");
    }

    #[test]
    fn a_mailer_needs_sound_settings() {
        let settings =
            SmtpSettings { url: "http://mail".into(), from: "a@b.c".into(), timeout: Duration::from_secs(1) };
        assert!(matches!(Mailer::new(&settings), Err(MailError::Config(_))));
        let settings = SmtpSettings { url: "smtps://mail.example.org".into(), ..settings };
        let mailer = Mailer::new(&settings).unwrap();
        assert!(mailer.tls.is_some());
        assert_eq!(mailer.server.port, 465);
    }
}
