//! The `consentgate` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use consentgate::app::{access, learners, AppError};
use consentgate::config::{Overrides, Settings};
use consentgate::media::Limits;
use consentgate::store::{now_ms, time_of_ms, verify_chain, FullStore, RevokeOutcome, Role, GENESIS_HASH};
use consentgate::{cli, service};

/// Publishes photos of learners only with consent.
#[derive(Parser)]
#[command(name = "consentgate", version, about)]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage learners.
    Learners {
        #[command(subcommand)]
        command: LearnersCommand,
    },
    /// Check the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Scrub images offline: write each as OUT/<blake3>.<ext> and print one JSON line per input.
    ///
    /// Exits 0 when every input was scrubbed, 1 when any was rejected (the others are still written).
    Scrub {
        /// Image files, or directories searched recursively.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Directory for the scrubbed files (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print the blake3 and perceptual hashes of images as JSON lines, writing nothing.
    Fingerprint {
        /// Image files, or directories searched recursively.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, as the last line.
    ///
    /// The database must exist already (`consentgate migrate` or `serve` creates it), so that a
    /// mistyped --data cannot hand out a token for an empty database nobody uses.
    Create {
        /// What the token may do.
        #[arg(long, value_enum)]
        role: Role,
        /// Who holds it (recorded with the token and in the audit row of its creation).
        #[arg(long)]
        name: String,
        /// Make it stop working after this long: a whole number and a unit, h (hours), d (days)
        /// or w (weeks), such as 90d. Without it the token works until revoked.
        #[arg(long, value_parser = lifetime)]
        expires: Option<i64>,
    },
    /// List every token: id, role, holder, created, expires, revoked (never a secret).
    ///
    /// The database must exist already, as for `token create`.
    List,
    /// Revoke a token: it stops working at once, and every page session opened with it ends.
    ///
    /// ID is the part of the token between `cg_` and the second `_` (as `token list` shows it).
    /// The database must exist already, as for `token create`. Audited.
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// Parses `--expires` for clap.
fn lifetime(text: &str) -> Result<i64, String> {
    consentgate::tokens::parse_lifetime(text)
}

#[derive(Subcommand)]
enum LearnersCommand {
    /// Import learners and guardians from an MIS export (CSV with the columns given_name,
    /// family_name, date_of_birth, external_ref, guardian_name, guardian_email; preferred_name,
    /// learner_email, groups and left_on optional), all or nothing.
    ///
    /// Every bad line is reported with its number; nothing is stored unless every line is good.
    /// Learners on record whom the file does not list are counted, not removed.
    /// The database must exist already (`consentgate migrate` or `serve` creates it).
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Check the file and report what would change, storing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Mark learners on record (with an external reference, not left) whom the file does not
        /// list as left today. Only for a full export: a partial one would mark everyone else.
        #[arg(long)]
        mark_missing_as_left: bool,
    },
    /// Write everything held about one learner (a subject access request's answer) to a ZIP:
    /// their record and guardians, consent history, the photos they are in with their texts,
    /// publications and takedowns, and the audit rows about them, with a README.txt.
    Export {
        /// The learner's id.
        id: String,
        /// The ZIP file to create (an existing file is not overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain; exits 1 and names the first bad row if it was tampered with.
    ///
    /// Reads only: a missing database is an error (exit 2), never created, and an empty audit log
    /// is an error too (exit 1), since every database a server has used holds at least the row of
    /// its first admin token.
    ///
    /// Prints the head (`SEQ:HASH`) on success. Rows cut from the end leave a shorter chain that
    /// is still valid, so keep heads outside the database (the service logs one at start and
    /// hourly) and pass one back with --anchor to prove nothing before it was removed.
    Verify {
        /// A head recorded earlier, `SEQ:HASH`: that row must still be there, unchanged.
        #[arg(long)]
        anchor: Option<String>,
    },
}

/// The media limits, overridable per run.
#[derive(Args)]
struct LimitArgs {
    /// Largest accepted file in bytes.
    #[arg(long, env = "CONSENTGATE_MAX_BYTES", default_value_t = Limits::default().max_bytes)]
    max_bytes: u64,
    /// Largest accepted picture in pixels.
    #[arg(long, env = "CONSENTGATE_MAX_PIXELS", default_value_t = Limits::default().max_pixels)]
    max_pixels: u64,
    /// Largest accepted width or height in pixels.
    #[arg(long, env = "CONSENTGATE_MAX_SIDE", default_value_t = Limits::default().max_side)]
    max_side: u32,
}

impl From<LimitArgs> for Limits {
    fn from(a: LimitArgs) -> Self {
        Limits { max_bytes: a.max_bytes, max_pixels: a.max_pixels, max_side: a.max_side }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CONSENTGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("CONSENTGATE_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scrub { inputs, out, limits } => offline(&inputs, Some(out), limits.into()),
        Command::Fingerprint { inputs, limits } => offline(&inputs, None, limits.into()),
        command => {
            init_logging();
            let settings = match Settings::resolve(&cli.overrides) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
            let code = runtime.block_on(online(command, settings));
            // A scrub cut off by the shutdown deadline runs on a blocking thread, which dropping
            // the runtime would wait for; it writes nothing that matters now.
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
            code
        }
    }
}

/// `token create`, `token list`, `token revoke` on an opened store.
async fn token_command(store: &dyn FullStore, command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::Create { role, name, expires } => {
            match access::create_expiring_token(store, role, &name, "cli", expires).await {
                Ok(token) => {
                    match expires {
                        Some(ms) => println!("{role} token for {name}, expires {}:", when(now_ms() + ms)),
                        None => println!("{role} token for {name}:"),
                    }
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        TokenCommand::List => match access::list_tokens(store).await {
            Ok(tokens) => {
                // Tab-separated: a holder's name may hold spaces.
                println!("id\trole\tname\tcreated\texpires\trevoked");
                for t in tokens {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        t.id,
                        t.role,
                        t.name,
                        when(t.created_at),
                        t.expires_at.map_or_else(|| "never".to_string(), when),
                        t.revoked_at.map_or_else(|| "-".to_string(), when),
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        TokenCommand::Revoke { id } => match access::revoke_token(store, &id, "cli").await {
            Ok(RevokeOutcome::Revoked { sessions_ended }) => {
                println!("token {id} revoked; {sessions_ended} page sessions ended with it");
                ExitCode::SUCCESS
            }
            Ok(RevokeOutcome::AlreadyRevoked(at)) => {
                println!("token {id} was already revoked at {}; nothing changed", when(at));
                ExitCode::SUCCESS
            }
            Ok(RevokeOutcome::Unknown) => {
                eprintln!("consentgate: no token has the id {id:?} (see `consentgate token list`)");
                ExitCode::from(1)
            }
            Err(e) => fail(e),
        },
    }
}

/// A time for people: `2026-12-01 01:17:56 UTC`.
fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time_of_ms(ms).format(&format).unwrap_or_else(|_| ms.to_string())
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("consentgate: {e}");
    ExitCode::from(2)
}

fn offline(inputs: &[PathBuf], out: Option<PathBuf>, limits: Limits) -> ExitCode {
    let stdout = std::io::stdout();
    match cli::run(inputs, out.as_deref(), &limits, &mut stdout.lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => fail(e),
    }
}

async fn online(command: Command, settings: Settings) -> ExitCode {
    match command {
        Command::Serve => {
            tracing::info!(?settings, "starting");
            let prepared = match service::prepare(settings).await {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            if let (Some(token), Some(path)) = (&prepared.initial_admin_token, &prepared.admin_token_file) {
                // Under systemd or in a container stdout ends up in a journal: the token goes to a
                // file only its owner can read, and to stdout only when a person is watching it.
                println!(
                    "No admin token existed, so one was created and written to {} (readable by this user only).",
                    path.display()
                );
                if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    println!("Keep it safe; it will not be shown again:");
                    println!("{token}");
                }
            }
            let settings = prepared.state.app.settings.clone();
            let listener = match service::bind(&settings).await {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            let metrics_listener = match service::bind_metrics(&settings).await {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let metrics_address = metrics_listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            tracing::info!(%address, %metrics_address, objects = prepared.state.app.objects.describe(), "listening");
            // Stops with the process: a re-evaluation cut short is simply redone at the next start.
            tokio::spawn(service::maintain(prepared.state.clone(), std::future::pending()));
            // The metrics listener lives as long as the public one: when that returns, this is
            // dropped with it. A failure of the metrics listener alone is logged, not fatal.
            let metrics = async {
                if let Err(e) =
                    service::serve_metrics(prepared.state.clone(), metrics_listener, std::future::pending()).await
                {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                result = service::serve(prepared.state.clone(), listener, service::shutdown_signal()) => match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(e),
                },
                () = metrics => unreachable!("the metrics future never completes"),
            }
        }
        Command::Migrate => match service::open_store(&settings).await {
            Ok(_) => {
                println!("migrations applied");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Token { command } => {
            let store = match service::open_existing_store(&settings, true).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            token_command(store.as_ref(), command).await
        }
        Command::Learners { command: LearnersCommand::Export { id, out } } => {
            let store = match service::open_existing_store(&settings, true).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let objects = match consentgate::objects::Objects::open(&settings) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            // Made before anything is read or audited: an export that cannot be written is none.
            let file = match consentgate::app::export::create_file(&out) {
                Ok(file) => file,
                Err(e) => {
                    eprintln!("consentgate: {e}; nothing was exported");
                    return ExitCode::from(2);
                }
            };
            let app = consentgate::app::App::new(store, objects, settings);
            let cli = consentgate::app::Actor { token_id: "cli".into(), role: consentgate::store::Role::Admin };
            let written = match consentgate::app::export::prepare(&app, &cli, &id).await {
                Ok(export) => consentgate::app::export::to_file(&app, export, file, &out).await,
                Err(e) => {
                    drop(file);
                    let _ = std::fs::remove_file(&out);
                    Err(e)
                }
            };
            match written {
                Ok(()) => {
                    println!("{}", out.display());
                    ExitCode::SUCCESS
                }
                Err(AppError::NotFound(what)) => {
                    eprintln!("consentgate: no such {what}");
                    ExitCode::from(1)
                }
                Err(e) => fail(e),
            }
        }
        Command::Learners { command: LearnersCommand::Import { file, dry_run, mark_missing_as_left } } => {
            let bytes = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("consentgate: cannot read {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let store = match service::open_existing_store(&settings, true).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let mode = learners::ImportMode { dry_run, mark_missing_as_left };
            match learners::import_csv(store.as_ref(), &bytes, "cli", mode, settings.rules).await {
                Ok(summary) => {
                    let verb = if dry_run { "would be" } else { "were" };
                    println!(
                        "{} learners {verb} created, {} updated, {} unchanged{}{}{}",
                        summary.created,
                        summary.updated,
                        summary.unchanged,
                        match summary.guardians_still_removed {
                            0 => String::new(),
                            n => format!("; {n} guardians in the file were removed by an admin and stay removed"),
                        },
                        match (summary.not_in_file, summary.marked_left) {
                            (0, _) => String::new(),
                            (n, 0) => format!(
                                "; {n} learners on record are not in the file and were kept \
                                 (--mark-missing-as-left marks them left)"
                            ),
                            (_, n) => format!("; {n} learners on record not in the file {verb} marked left today"),
                        },
                        if dry_run { " (dry run: nothing stored)" } else { "" }
                    );
                    if !summary.under_18_without_guardian.is_empty() {
                        println!("Under 18 with no guardian (nobody can consent for them yet):");
                        for name in &summary.under_18_without_guardian {
                            println!("  {name}");
                        }
                    }
                    if !summary.guardians_without_email.is_empty() {
                        println!("Guardians with no email (a request cannot reach them):");
                        for name in &summary.guardians_without_email {
                            println!("  {name}");
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(AppError::BadLines(errors)) => {
                    for e in &errors {
                        eprintln!("{}:{}: {}", file.display(), e.line, e.message);
                    }
                    eprintln!("consentgate: nothing was imported; fix the lines above and try again");
                    ExitCode::from(1)
                }
                Err(e) => fail(e),
            }
        }
        Command::Audit { command: AuditCommand::Verify { anchor } } => {
            let anchor = match anchor
                .as_deref()
                .map(|a| a.split_once(':').map(|(seq, hash)| (seq.parse::<i64>(), hash)))
            {
                None => None,
                Some(Some((Ok(seq), hash))) if seq > 0 && hash.len() == 64 => Some((seq, hash.to_ascii_lowercase())),
                Some(_) => {
                    eprintln!("consentgate: --anchor must be SEQ:HASH as printed by an earlier verify");
                    return ExitCode::from(2);
                }
            };
            // Verifying writes nothing: no database is created and no migration applied.
            let store = match service::open_existing_store(&settings, false).await {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let mut anchor_seen = false;
            let mut prev = (0, GENESIS_HASH.to_string());
            loop {
                let rows = match store.audit_log(prev.0, 10_000).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        return fail(format_args!(
                            "cannot read the audit log ({e}); is this a consentgate database? \
                             `consentgate migrate` sets one up"
                        ))
                    }
                };
                if rows.is_empty() {
                    break;
                }
                match verify_chain(&rows, prev) {
                    Ok(last) => prev = last,
                    Err(e) => {
                        eprintln!("consentgate: {e}");
                        return ExitCode::from(1);
                    }
                }
                if let Some((seq, hash)) = &anchor {
                    if let Some(row) = rows.iter().find(|r| r.seq == *seq) {
                        if &row.hash != hash {
                            eprintln!(
                                "consentgate: audit row {seq} is not the row anchored earlier: the log was rewritten"
                            );
                            return ExitCode::from(1);
                        }
                        anchor_seen = true;
                    }
                }
            }
            if prev.0 == 0 {
                // A database any server has used holds at least its first admin token's row: an
                // empty log is a wrong --data or DATABASE_URL, or a log emptied by someone.
                eprintln!(
                    "consentgate: the audit log is empty: nothing to verify. Check --data (or DATABASE_URL); a \
                     database in use always has rows"
                );
                return ExitCode::from(1);
            }
            if let Some((seq, _)) = &anchor {
                if !anchor_seen {
                    eprintln!(
                        "consentgate: the audit log ends at row {} but row {seq} was recorded earlier: rows were deleted from its end",
                        prev.0
                    );
                    return ExitCode::from(1);
                }
            }
            println!("audit log verified: {} rows; head {}:{}", prev.0, prev.0, prev.1);
            ExitCode::SUCCESS
        }
        Command::Scrub { .. } | Command::Fingerprint { .. } => unreachable!("handled offline"),
    }
}
