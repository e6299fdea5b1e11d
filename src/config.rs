//! Settings: defaults, then a TOML file, then `CONSENTGATE_*` environment variables, then flags.
//!
//! The embedded default needs nothing installed: SQLite at `DATA/consentgate.db` and objects under
//! `DATA/objects`. `DATABASE_URL=postgres://…` selects PostgreSQL; an S3 bucket selects S3; an SMTP
//! URL sends consent requests by email (without one, they wait as letters to print).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::media::Limits;
use crate::policy::consent::Rules;
use crate::policy::retention::RetentionRules;
use crate::policy::wording::ConsentWording;
use crate::policy::zone::Zone;

mod debug;
mod error;
mod public_url;
mod requests;
mod retention;
mod smtp;

pub use error::{mask_password, ConfigError};
pub use requests::{ConsentFormFile, RequestTimings};
pub use retention::RetentionFile;
pub use smtp::{SmtpSecurity, SmtpServer, SmtpSettings};

/// Everything the service and its commands need to know, resolved from all sources.
#[derive(Clone)]
pub struct Settings {
    /// Directory for the embedded database and objects.
    pub data_dir: PathBuf,
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Address `/metrics` is served on, apart from the public listener (which answers 404 for
    /// it): metrics count withdrawals and consent events, which is nobody else's business.
    pub metrics_listen: SocketAddr,
    /// `postgres://…` or `sqlite:…`; `None` means SQLite in the data directory.
    pub database_url: Option<String>,
    /// S3-compatible object storage; `None` means the local file system.
    pub s3: Option<S3Settings>,
    /// Media limits for uploads.
    pub limits: Limits,
    /// How many uploads are scrubbed at once (default: the number of cores).
    pub scrub_concurrency: usize,
    /// Memory, in MiB, that decoding images (uploads and renditions) may take at once across the
    /// process (default 512). Each decode reserves its estimate from the header's pixel count
    /// before it starts, so big images queue instead of stacking up; one larger than the whole
    /// budget runs alone.
    pub memory_budget_mib: usize,
    /// With a shared database or object store, orphaned objects younger than this survive the
    /// start-up sweep (another replica may be about to commit their rows) until a sweep this long
    /// after start. With SQLite and the local file system the start-up sweep spares nothing: one
    /// process owns the data (see [`Settings::sole_owner`]).
    pub sweep_grace: Duration,
    /// How long a stopping server waits for in-flight requests before it exits anyway: a stalled
    /// client must not keep a deploy or a restart waiting for ever.
    pub shutdown_grace: Duration,
    /// The address people reach this service at; withdrawal links start with it.
    pub public_url: String,
    /// How often statuses are re-evaluated for the passing of time (expiries, 18th birthdays) and
    /// orphaned objects swept.
    pub maintenance_interval: Duration,
    /// How long a takedown may stay owed before marketing and the safeguarding leads are emailed
    /// again that it is overdue (default 24 hours).
    pub takedown_overdue_after: Duration,
    /// The provider's consent policy switches.
    pub rules: Rules,
    /// The organisation's name, shown on the withdrawal page so a parent knows who they deal with.
    pub organisation_name: Option<String>,
    /// How to reach the organisation with questions (an email address or phone number), shown on
    /// the withdrawal page.
    pub organisation_contact: Option<String>,
    /// How long clients may take and how many connections may be open.
    pub connections: Connections,
    /// Reverse proxies whose `X-Forwarded-For` is believed: the withdrawal pages' rate limit keys
    /// on the client a trusted proxy names, not on the proxy. Empty by default: the header is
    /// ignored, since anyone can send it.
    pub trusted_proxies: Vec<IpNet>,
    /// The SMTP server consent requests are sent through; `None` (the default) sends nothing:
    /// messages wait as letters to print and post.
    pub mail: Option<SmtpSettings>,
    /// When requests are reminded, renewed and run out, and how long an online grant lasts.
    pub requests: RequestTimings,
    /// The words of the online consent form (`[consent_form]` in the file).
    pub consent_form: ConsentWording,
    /// How long images are kept after they stop being useful (`[retention]` in the file).
    pub retention: RetentionRules,
}

/// What a client may cost the server in connections and time: a client that opens connections and
/// sends nothing, or sends a body a byte at a time, must not shut out a parent withdrawing consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connections {
    /// How long a client has to send a request's headers, from the moment the server waits for
    /// them (the connection opened, or the previous response was sent). Default 10 s.
    pub header_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request before it is closed (at most
    /// the header timeout, which also applies). Default 5 s.
    pub idle_timeout: Duration,
    /// The longest a request body may go without sending a byte, and a response without the
    /// client taking one. Default 30 s.
    pub body_timeout: Duration,
    /// The slowest average a request body may arrive at once its first `body_timeout` has passed,
    /// in bytes per second (0: no minimum). Default 1024: far below any phone signal, far above a
    /// client that drips a byte now and then to hold an upload slot.
    pub min_body_rate: u64,
    /// At most this many connections are open at once; `None`: as many as the open-file limit
    /// allows after a reserve for the database, objects and scrubbing (see
    /// `http::conn::connection_cap`). Beyond it, the connections waiting longest for their
    /// headers are closed to let new ones in.
    pub max_connections: Option<usize>,
}

impl Default for Connections {
    fn default() -> Connections {
        Connections {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            max_connections: None,
        }
    }
}

/// The default port of [`Settings::metrics_listen`], which listens on loopback unless told
/// otherwise.
pub const DEFAULT_METRICS_PORT: u16 = 9464;

/// Connection settings of an S3-compatible store.
#[derive(Clone, Deserialize, Default)]
#[serde(default)]
pub struct S3Settings {
    /// Endpoint URL (`http://127.0.0.1:9000`); `None` for AWS itself.
    pub endpoint: Option<String>,
    /// Bucket name.
    pub bucket: String,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted servers need.
    pub path_style: bool,
}

/// The settings a TOML file may hold; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// See [`Settings::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// See [`Settings::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Settings::metrics_listen`].
    pub metrics_listen: Option<SocketAddr>,
    /// See [`Settings::database_url`].
    pub database_url: Option<String>,
    /// See [`Settings::s3`].
    pub s3: Option<S3Settings>,
    /// See [`Settings::limits`].
    pub limits: Option<Limits>,
    /// See [`Settings::scrub_concurrency`].
    pub scrub_concurrency: Option<usize>,
    /// See [`Settings::memory_budget_mib`].
    pub memory_budget_mib: Option<usize>,
    /// See [`Settings::sweep_grace`], in seconds.
    pub sweep_grace_seconds: Option<u64>,
    /// See [`Settings::shutdown_grace`], in seconds.
    pub shutdown_grace_seconds: Option<u64>,
    /// See [`Settings::public_url`].
    pub public_url: Option<String>,
    /// See [`Settings::maintenance_interval`], in seconds.
    pub maintenance_interval_seconds: Option<u64>,
    /// See [`Settings::takedown_overdue_after`], in hours.
    pub takedown_overdue_hours: Option<u64>,
    /// See [`Rules::guardian_grant_survives_majority`].
    pub guardian_grant_survives_majority: Option<bool>,
    /// See [`Rules::guardian_no_survives_majority`].
    pub guardian_no_survives_majority: Option<bool>,
    /// See [`Rules::zone`]: an IANA time-zone name (default `Europe/London`).
    pub timezone: Option<String>,
    /// See [`Settings::trusted_proxies`]: CIDRs (`10.0.0.0/8`) or single addresses.
    pub trusted_proxies: Option<Vec<String>>,
    /// See [`Settings::organisation_name`].
    pub organisation_name: Option<String>,
    /// See [`Settings::organisation_contact`].
    pub organisation_contact: Option<String>,
    /// See [`Connections::header_timeout`], in seconds.
    pub header_timeout_seconds: Option<u64>,
    /// See [`Connections::idle_timeout`], in seconds.
    pub idle_timeout_seconds: Option<u64>,
    /// See [`Connections::body_timeout`], in seconds.
    pub body_timeout_seconds: Option<u64>,
    /// See [`Connections::min_body_rate`], in bytes per second.
    pub min_body_bytes_per_second: Option<u64>,
    /// See [`Connections::max_connections`].
    pub max_connections: Option<usize>,
    /// See [`SmtpSettings::url`]; unset or empty: nothing is sent.
    pub smtp_url: Option<String>,
    /// See [`SmtpSettings::from`]; required with `smtp_url`.
    pub smtp_from: Option<String>,
    /// See [`SmtpSettings::timeout`], like `30s` (the default).
    pub smtp_timeout: Option<String>,
    /// See [`RequestTimings::reminder_after`], like `7d`.
    pub reminder_after: Option<String>,
    /// See [`RequestTimings::max_reminders`].
    pub max_reminders: Option<u32>,
    /// See [`RequestTimings::renewal_notice`], like `30d`.
    pub renewal_notice: Option<String>,
    /// See [`RequestTimings::request_valid_for`], like `30d`.
    pub request_valid_for: Option<String>,
    /// See [`RequestTimings::consent_valid_for`], like `365d`, or `never`.
    pub consent_valid_for: Option<String>,
    /// See [`Settings::consent_form`].
    pub consent_form: Option<ConsentFormFile>,
    /// See [`Settings::retention`].
    pub retention: Option<RetentionFile>,
}

/// Settings given on the command line or in the environment; each overrides the file.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// TOML settings file.
    #[arg(long, env = "CONSENTGATE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (default ./data).
    #[arg(long, env = "CONSENTGATE_DATA", global = true)]
    pub data: Option<PathBuf>,
    /// Listen address (default 127.0.0.1:8080).
    #[arg(long, env = "CONSENTGATE_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Address /metrics is served on, apart from the public listener (default 127.0.0.1:9464).
    #[arg(long, env = "CONSENTGATE_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,
    /// Database URL: postgres://… selects PostgreSQL (default: SQLite in the data directory).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// S3 bucket: selects S3-compatible object storage.
    #[arg(long, env = "CONSENTGATE_S3_BUCKET", global = true)]
    pub s3_bucket: Option<String>,
    /// S3 endpoint URL, for servers other than AWS.
    #[arg(long, env = "CONSENTGATE_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "CONSENTGATE_S3_REGION", global = true)]
    pub s3_region: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "CONSENTGATE_S3_ACCESS_KEY_ID", global = true)]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(long, env = "CONSENTGATE_S3_SECRET_ACCESS_KEY", global = true, hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Use path-style S3 addressing.
    #[arg(long, env = "CONSENTGATE_S3_PATH_STYLE", global = true)]
    pub s3_path_style: Option<bool>,
    /// Seconds an orphaned object is spared by the start-up sweep when the database or the object
    /// store is shared (PostgreSQL or S3; default 600). SQLite with local files spares none.
    #[arg(long, env = "CONSENTGATE_SWEEP_GRACE_SECONDS", global = true)]
    pub sweep_grace_seconds: Option<u64>,
    /// Seconds a stopping server waits for in-flight requests before exiting anyway (default 30).
    #[arg(long, env = "CONSENTGATE_SHUTDOWN_GRACE_SECONDS", global = true)]
    pub shutdown_grace_seconds: Option<u64>,
    /// The address people reach the service at (withdrawal links start with it); default
    /// `http://LISTEN`.
    #[arg(long, env = "CONSENTGATE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Seconds between re-evaluations for the passing of time (default 60).
    #[arg(long, env = "CONSENTGATE_MAINTENANCE_INTERVAL_SECONDS", global = true)]
    pub maintenance_interval_seconds: Option<u64>,
    /// Hours a takedown may stay owed before marketing and the safeguarding leads are emailed that
    /// it is overdue (default 24).
    #[arg(long, env = "CONSENTGATE_TAKEDOWN_OVERDUE_HOURS", global = true)]
    pub takedown_overdue_hours: Option<u64>,
    /// The organisation's name, for the withdrawal page.
    #[arg(long, env = "CONSENTGATE_ORGANISATION_NAME", global = true)]
    pub organisation_name: Option<String>,
    /// How to contact the organisation, for the withdrawal page.
    #[arg(long, env = "CONSENTGATE_ORGANISATION_CONTACT", global = true)]
    pub organisation_contact: Option<String>,
    /// Seconds a client has to send a request's headers (default 10).
    #[arg(long, env = "CONSENTGATE_HEADER_TIMEOUT_SECONDS", global = true)]
    pub header_timeout_seconds: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request (default 5).
    #[arg(long, env = "CONSENTGATE_IDLE_TIMEOUT_SECONDS", global = true)]
    pub idle_timeout_seconds: Option<u64>,
    /// Seconds a request body may go without sending a byte (default 30).
    #[arg(long, env = "CONSENTGATE_BODY_TIMEOUT_SECONDS", global = true)]
    pub body_timeout_seconds: Option<u64>,
    /// Slowest average rate of a request body after its first body timeout, in bytes per second
    /// (default 1024; 0 for none).
    #[arg(long, env = "CONSENTGATE_MIN_BODY_BYTES_PER_SECOND", global = true)]
    pub min_body_bytes_per_second: Option<u64>,
    /// Most connections open at once (default: what the open-file limit allows, less a reserve).
    #[arg(long, env = "CONSENTGATE_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// The organisation's time zone, an IANA name (default Europe/London): birthdays, "today"
    /// and dates given without a time are read in it.
    #[arg(long, env = "CONSENTGATE_TIMEZONE", global = true)]
    pub timezone: Option<String>,
    /// Reverse proxies whose X-Forwarded-For is believed, comma-separated CIDRs (default none).
    #[arg(long, env = "CONSENTGATE_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// SMTP server for consent requests: smtp://user:password@host:587 (STARTTLS required; plain
    /// only to loopback) or smtps://…:465. Unset: nothing is sent, messages wait as letters.
    #[arg(long, env = "CONSENTGATE_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of consent requests, `office@example.org` or `Name <office@example.org>`; required
    /// with an SMTP URL.
    #[arg(long, env = "CONSENTGATE_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
    /// Longest one delivery may take, like 30s (the default).
    #[arg(long, env = "CONSENTGATE_SMTP_TIMEOUT", global = true)]
    pub smtp_timeout: Option<String>,
    /// How long an unanswered request waits before a reminder, like 7d (the default).
    #[arg(long, env = "CONSENTGATE_REMINDER_AFTER", global = true)]
    pub reminder_after: Option<String>,
    /// Most reminders per recipient (default 2).
    #[arg(long, env = "CONSENTGATE_MAX_REMINDERS", global = true)]
    pub max_reminders: Option<u32>,
    /// How long before a grant expires its renewal is requested, like 30d (the default).
    #[arg(long, env = "CONSENTGATE_RENEWAL_NOTICE", global = true)]
    pub renewal_notice: Option<String>,
    /// How long a request's links can be answered, like 30d (the default).
    #[arg(long, env = "CONSENTGATE_REQUEST_VALID_FOR", global = true)]
    pub request_valid_for: Option<String>,
    /// How long a grant answered online lasts, like 365d (the default), or `never`.
    #[arg(long, env = "CONSENTGATE_CONSENT_VALID_FOR", global = true)]
    pub consent_valid_for: Option<String>,
    /// How long after upload the image of a photo that never reached the queue is deleted, like
    /// 90d (the default), or `off`.
    #[arg(long, env = "CONSENTGATE_RETENTION_HELD_PHOTO", global = true)]
    pub retention_held_photo: Option<String>,
    /// How long after a learner's leaving day the images of photos they are tagged in are deleted,
    /// like 365d (the default), or `off`.
    #[arg(long, env = "CONSENTGATE_RETENTION_AFTER_LEAVING", global = true)]
    pub retention_after_leaving: Option<String>,
    /// How long after a learner's leaving day their personal data is erased, like 6years (the
    /// default), or `off`.
    #[arg(long, env = "CONSENTGATE_RETENTION_LEARNER_RECORD_AFTER_LEAVING", global = true)]
    pub retention_learner_record_after_leaving: Option<String>,
}

impl Settings {
    /// Resolves defaults < file < environment and flags.
    pub fn resolve(overrides: &Overrides) -> Result<Settings, ConfigError> {
        let mut file = match &overrides.config {
            Some(path) => load_file(path)?,
            None => FileSettings::default(),
        };
        let connections = connections(overrides, &file)?;
        let o = overrides;
        let mail = smtp::resolve(
            o.smtp_url.clone().or_else(|| file.smtp_url.clone()),
            o.smtp_from.clone().or_else(|| file.smtp_from.clone()),
            o.smtp_timeout.as_deref().or(file.smtp_timeout.as_deref()),
        )?;
        let requests = RequestTimings::resolve(
            o.reminder_after.as_deref().or(file.reminder_after.as_deref()),
            o.max_reminders.or(file.max_reminders),
            o.renewal_notice.as_deref().or(file.renewal_notice.as_deref()),
            o.request_valid_for.as_deref().or(file.request_valid_for.as_deref()),
            o.consent_valid_for.as_deref().or(file.consent_valid_for.as_deref()),
        )?;
        let consent_form = file.consent_form.take().unwrap_or_default().wording();
        let retention_file = file.retention.take().unwrap_or_default();
        let retention = retention::resolve(
            o.retention_held_photo.as_deref().or(retention_file.held_photo.as_deref()),
            o.retention_after_leaving.as_deref().or(retention_file.after_leaving.as_deref()),
            o.retention_learner_record_after_leaving
                .as_deref()
                .or(retention_file.learner_record_after_leaving.as_deref()),
        )?;
        let mut s3 = file.s3;
        let any_s3_flag = o.s3_endpoint.is_some()
            || o.s3_region.is_some()
            || o.s3_access_key_id.is_some()
            || o.s3_secret_access_key.is_some()
            || o.s3_path_style.is_some();
        // Objects silently landing on the local disk of one replica, when S3 was meant, would
        // scatter photos across machines: refuse instead.
        if any_s3_flag && s3.is_none() && o.s3_bucket.is_none() {
            return Err(ConfigError::Invalid(
                "S3 settings were given without a bucket: set CONSENTGATE_S3_BUCKET (or [s3] bucket in the file)"
                    .into(),
            ));
        }
        if let Some(bucket) = &overrides.s3_bucket {
            s3.get_or_insert_with(S3Settings::default).bucket = bucket.clone();
        }
        if let Some(s3) = s3.as_mut() {
            if o.s3_endpoint.is_some() {
                s3.endpoint = o.s3_endpoint.clone();
            }
            if o.s3_region.is_some() {
                s3.region = o.s3_region.clone();
            }
            if o.s3_access_key_id.is_some() {
                s3.access_key_id = o.s3_access_key_id.clone();
            }
            if o.s3_secret_access_key.is_some() {
                s3.secret_access_key = o.s3_secret_access_key.clone();
            }
            if let Some(path_style) = o.s3_path_style {
                s3.path_style = path_style;
            }
            if s3.bucket.is_empty() {
                return Err(ConfigError::Invalid("S3 settings need a bucket".into()));
            }
        }
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let listen = overrides.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public_url = overrides.public_url.clone().or(file.public_url).unwrap_or_else(|| format!("http://{listen}"));
        let public_url = public_url.trim_end_matches('/').to_string();
        if !matches!(url::Url::parse(&public_url), Ok(u) if matches!(u.scheme(), "http" | "https")) {
            return Err(ConfigError::Invalid(format!("public_url {public_url:?} is not an http(s) URL")));
        }
        let interval = overrides.maintenance_interval_seconds.or(file.maintenance_interval_seconds).unwrap_or(60);
        // A misspelt zone would move every birthday by hours without anyone noticing: refuse it.
        let zone = match overrides.timezone.as_deref().or(file.timezone.as_deref()) {
            None => Zone::default(),
            Some(name) => Zone::named(name).map_err(|e| ConfigError::Invalid(format!("timezone: {e}")))?,
        };
        let trusted_proxies = match &overrides.trusted_proxies {
            Some(list) => trusted_proxies(list.split(','))?,
            None => trusted_proxies(file.trusted_proxies.iter().flatten().map(String::as_str))?,
        };
        let settings = Settings {
            data_dir: overrides.data.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("data")),
            listen,
            metrics_listen: overrides
                .metrics_listen
                .or(file.metrics_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], DEFAULT_METRICS_PORT))),
            public_url,
            maintenance_interval: Duration::from_secs(interval.max(1)),
            takedown_overdue_after: Duration::from_secs(
                overrides.takedown_overdue_hours.or(file.takedown_overdue_hours).unwrap_or(24).clamp(1, 24 * 365)
                    * 3600,
            ),
            rules: Rules {
                guardian_grant_survives_majority: file.guardian_grant_survives_majority.unwrap_or(false),
                guardian_no_survives_majority: file.guardian_no_survives_majority.unwrap_or(false),
                zone,
            },
            trusted_proxies,
            database_url: overrides.database_url.clone().or(file.database_url).filter(|u| !u.is_empty()),
            s3,
            limits: limits_from_env(file.limits.unwrap_or_default(), |name| std::env::var(name).ok())?,
            scrub_concurrency: file.scrub_concurrency.unwrap_or(cores).max(1),
            memory_budget_mib: memory_budget_mib(file.memory_budget_mib, |name| std::env::var(name).ok())?,
            sweep_grace: Duration::from_secs(overrides.sweep_grace_seconds.or(file.sweep_grace_seconds).unwrap_or(600)),
            organisation_name: non_blank(overrides.organisation_name.clone().or(file.organisation_name)),
            organisation_contact: non_blank(overrides.organisation_contact.clone().or(file.organisation_contact)),
            shutdown_grace: Duration::from_secs(
                overrides.shutdown_grace_seconds.or(file.shutdown_grace_seconds).unwrap_or(30),
            ),
            connections,
            mail,
            requests,
            consent_form,
            retention,
        };
        Ok(settings)
    }

    /// Whether `public_url` names this machine only ([`public_url::is_loopback`]): then the links
    /// sent to families would not open on their phones, and the admin pages say so.
    pub fn public_url_is_loopback(&self) -> bool {
        public_url::is_loopback(&self.public_url)
    }

    /// Whether this process alone owns the data: SQLite (one file, one server) and the local file
    /// system. Then no other replica can be between an object and its row, and sweeps need no
    /// grace at start.
    pub fn sole_owner(&self) -> bool {
        !self.effective_database_url().starts_with("postgres") && self.s3.is_none()
    }

    /// How many uploads may be received at once, bodies included. Bodies are buffered whole (up to
    /// `limits.max_bytes` each) before scrubbing, so this bounds their memory: twice the scrub
    /// concurrency keeps the scrubbers fed while the next bodies arrive.
    pub fn upload_concurrency(&self) -> usize {
        self.scrub_concurrency.saturating_mul(2).max(1)
    }

    /// The database URL in effect: the configured one, or SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("consentgate.db").display()))
    }
}

/// The connection settings: flags and environment over the file over [`Connections::default`].
fn connections(o: &Overrides, file: &FileSettings) -> Result<Connections, ConfigError> {
    let default = Connections::default();
    let seconds = |flag: Option<u64>, file: Option<u64>, default: Duration, name: &str| match flag.or(file) {
        None => Ok(default),
        Some(0) => Err(ConfigError::Invalid(format!("{name} must be at least 1 second"))),
        Some(s) => Ok(Duration::from_secs(s)),
    };
    let header_timeout = seconds(
        o.header_timeout_seconds,
        file.header_timeout_seconds,
        default.header_timeout,
        "header_timeout_seconds",
    )?;
    let idle_timeout =
        seconds(o.idle_timeout_seconds, file.idle_timeout_seconds, default.idle_timeout, "idle_timeout_seconds")?;
    let body_timeout =
        seconds(o.body_timeout_seconds, file.body_timeout_seconds, default.body_timeout, "body_timeout_seconds")?;
    let max_connections = o.max_connections.or(file.max_connections);
    if max_connections == Some(0) {
        return Err(ConfigError::Invalid("max_connections must be at least 1".into()));
    }
    Ok(Connections {
        header_timeout,
        idle_timeout,
        body_timeout,
        min_body_rate: o.min_body_bytes_per_second.or(file.min_body_bytes_per_second).unwrap_or(default.min_body_rate),
        max_connections,
    })
}

/// Parses proxy CIDRs; a bare address is a network of one. Empty items are skipped (a trailing
/// comma); anything else that does not parse is refused, naming it.
fn trusted_proxies<'a>(items: impl Iterator<Item = &'a str>) -> Result<Vec<IpNet>, ConfigError> {
    items
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map(|net| unmapped(net).trunc())
                .map_err(|_| ConfigError::Invalid(format!("trusted_proxies: {item:?} is not a CIDR like 10.0.0.0/8")))
        })
        .collect()
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`, as a dual-stack listener logs its peers)
/// as the IPv4 network it is: peers are compared in their canonical form, so the mapped form would
/// never match.
fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    }
}

/// A text setting, trimmed; an empty one counts as not set.
fn non_blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The `[limits]` of the file, overridden by `CONSENTGATE_MAX_BYTES`, `CONSENTGATE_MAX_PIXELS`
/// and `CONSENTGATE_MAX_SIDE`: the variables `scrub` and `fingerprint` read, so that one
/// environment gives the service and the offline commands the same limits.
fn limits_from_env(mut limits: Limits, var: impl Fn(&str) -> Option<String>) -> Result<Limits, ConfigError> {
    fn parse<T: std::str::FromStr>(
        var: &impl Fn(&str) -> Option<String>,
        name: &str,
    ) -> Result<Option<T>, ConfigError> {
        match var(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ConfigError::Invalid(format!("{name}={v:?} is not a positive whole number"))),
        }
    }
    if let Some(v) = parse(&var, "CONSENTGATE_MAX_BYTES")? {
        limits.max_bytes = v;
    }
    if let Some(v) = parse(&var, "CONSENTGATE_MAX_PIXELS")? {
        limits.max_pixels = v;
    }
    if let Some(v) = parse(&var, "CONSENTGATE_MAX_SIDE")? {
        limits.max_side = v;
    }
    Ok(limits)
}

fn load_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })
}

/// The decode memory budget: `CONSENTGATE_MEMORY_BUDGET_MIB`, else the file's key, else 512 MiB;
/// at least 16 MiB, so a budget typed in bytes by mistake cannot stop every decode.
fn memory_budget_mib(file: Option<usize>, env: impl Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    let from_env = match env("CONSENTGATE_MEMORY_BUDGET_MIB") {
        Some(v) => Some(v.trim().parse::<usize>().map_err(|_| {
            ConfigError::Invalid(format!("CONSENTGATE_MEMORY_BUDGET_MIB={v:?} is not a number of MiB"))
        })?),
        None => None,
    };
    Ok(from_env.or(file).unwrap_or(512).max(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing() {
        let s = Settings::resolve(&Overrides::default()).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("data"));
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.metrics_listen.to_string(), "127.0.0.1:9464");
        assert!(s.database_url.is_none() && s.s3.is_none());
        assert_eq!(s.effective_database_url(), "sqlite://data/consentgate.db");
        assert_eq!(s.connections, Connections::default());
    }

    #[test]
    fn connection_settings_come_from_the_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "header_timeout_seconds = 4\nmax_connections = 100\nmin_body_bytes_per_second = 0\n")
            .unwrap();
        let o = Overrides { config: Some(path), body_timeout_seconds: Some(7), ..Default::default() };
        let c = Settings::resolve(&o).unwrap().connections;
        assert_eq!(c.header_timeout, Duration::from_secs(4));
        assert_eq!(c.body_timeout, Duration::from_secs(7));
        assert_eq!(c.idle_timeout, Connections::default().idle_timeout);
        assert_eq!((c.max_connections, c.min_body_rate), (Some(100), 0));
        let err = Settings::resolve(&Overrides { header_timeout_seconds: Some(0), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("header_timeout_seconds"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/cg\"\nlisten = \"0.0.0.0:9000\"\nmetrics_listen = \"10.0.0.1:9100\"\n[s3]\nbucket = \"photos\"\nendpoint = \"http://s3\"\npath_style = true\n[limits]\nmax_bytes = 1000\n",
        )
        .unwrap();
        let o = Overrides { config: Some(path), listen: Some("127.0.0.1:1".parse().unwrap()), ..Default::default() };
        let s = Settings::resolve(&o).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/srv/cg"));
        assert_eq!(s.listen.to_string(), "127.0.0.1:1");
        assert_eq!(s.metrics_listen.to_string(), "10.0.0.1:9100");
        assert_eq!(s.limits.max_bytes, 1000);
        assert_eq!(s.limits.max_pixels, Limits::default().max_pixels);
        let s3 = s.s3.unwrap();
        assert_eq!((s3.bucket.as_str(), s3.path_style), ("photos", true));
    }

    #[test]
    fn debug_output_masks_secrets() {
        let o = Overrides {
            database_url: Some("postgres://cg:hunter2@db/cg".into()),
            s3_bucket: Some("b".into()),
            s3_secret_access_key: Some("topsecret".into()),
            ..Default::default()
        };
        let shown = format!("{:?}", Settings::resolve(&o).unwrap());
        assert!(!shown.contains("hunter2") && !shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn passwords_in_query_strings_and_unparseable_urls_are_hidden() {
        let shown = mask_password("postgres://cg@db/cg?sslmode=disable&password=hunter2");
        assert!(!shown.contains("hunter2") && shown.contains("sslmode=disable"), "{shown}");
        let shown = mask_password("postgres://cg:hunter2@[::1/cg");
        assert!(!shown.contains("hunter2") && shown.starts_with("postgres:"), "{shown}");
        assert_eq!(mask_password("sqlite://data/consentgate.db"), "sqlite://data/consentgate.db");
    }

    #[test]
    fn s3_settings_without_a_bucket_are_refused() {
        let o = Overrides { s3_endpoint: Some("http://127.0.0.1:9000".into()), ..Default::default() };
        let err = Settings::resolve(&o).unwrap_err();
        assert!(err.to_string().contains("bucket"), "{err}");
    }

    #[test]
    fn limit_variables_override_the_file() {
        let file = Limits { max_bytes: 1000, ..Limits::default() };
        let env = |name: &str| match name {
            "CONSENTGATE_MAX_BYTES" => Some("2000".to_string()),
            "CONSENTGATE_MAX_SIDE" => Some(" 300 ".to_string()),
            _ => None,
        };
        let limits = limits_from_env(file, env).unwrap();
        assert_eq!((limits.max_bytes, limits.max_pixels, limits.max_side), (2000, Limits::default().max_pixels, 300));
        let err = limits_from_env(file, |_| Some("lots".into())).unwrap_err();
        assert!(err.to_string().contains("CONSENTGATE_MAX_BYTES"), "{err}");
    }

    #[test]
    fn only_sqlite_with_local_files_owns_its_data() {
        let mut s = Settings::resolve(&Overrides::default()).unwrap();
        assert!(s.sole_owner());
        s.database_url = Some("postgres://db/cg".into());
        assert!(!s.sole_owner());
        s.database_url = None;
        s.s3 = Some(S3Settings { bucket: "b".into(), ..Default::default() });
        assert!(!s.sole_owner());
    }

    #[test]
    fn the_time_zone_defaults_to_london_and_an_unknown_one_stops_the_start() {
        assert_eq!(Settings::resolve(&Overrides::default()).unwrap().rules.zone.name(), "Europe/London");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "timezone = \"America/New_York\"\nguardian_no_survives_majority = true\n").unwrap();
        let from_file = Settings::resolve(&Overrides { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!(from_file.rules.zone.name(), "America/New_York");
        assert!(from_file.rules.guardian_no_survives_majority && !from_file.rules.guardian_grant_survives_majority);
        assert!(!Settings::resolve(&Overrides::default()).unwrap().rules.guardian_no_survives_majority);
        let o = Overrides { config: Some(path), timezone: Some("Europe/Dublin".into()), ..Default::default() };
        assert_eq!(Settings::resolve(&o).unwrap().rules.zone.name(), "Europe/Dublin");
        let err = Settings::resolve(&Overrides { timezone: Some("Europe/Londres".into()), ..Default::default() })
            .unwrap_err();
        assert!(err.to_string().contains("Europe/Londres"), "{err}");
    }

    #[test]
    fn trusted_proxies_come_from_a_toml_array_or_a_comma_separated_variable() {
        assert!(Settings::resolve(&Overrides::default()).unwrap().trusted_proxies.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "trusted_proxies = [\"10.0.0.0/8\", \"fd00::/8\", \"192.168.1.7\"]\n").unwrap();
        let from_file = Settings::resolve(&Overrides { config: Some(path.clone()), ..Default::default() }).unwrap();
        let shown: Vec<String> = from_file.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "fd00::/8", "192.168.1.7/32"]);
        let o = Overrides {
            config: Some(path),
            trusted_proxies: Some(" 172.16.0.1/12 , ::1, ::ffff:10.1.2.3, ::ffff:10.0.0.0/104,".into()),
            ..Default::default()
        };
        let shown: Vec<String> =
            Settings::resolve(&o).unwrap().trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["172.16.0.0/12", "::1/128", "10.1.2.3/32", "10.0.0.0/8"],
            "the variable replaces the file; host bits are dropped; IPv4-mapped entries are IPv4"
        );
        let err = Settings::resolve(&Overrides { trusted_proxies: Some("10.0.0.0/33".into()), ..Default::default() })
            .unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "data_dri = \"x\"\n").unwrap();
        let err = Settings::resolve(&Overrides { config: Some(path), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("data_dri"), "{err}");
    }
}
