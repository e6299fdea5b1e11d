//! The `consentgate` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use consentgate::cli;
use consentgate::media::Limits;

/// Publishes photos of learners only with consent.
#[derive(Parser)]
#[command(name = "consentgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (inputs, out, limits) = match cli.command {
        Command::Scrub { inputs, out, limits } => (inputs, Some(out), limits.into()),
        Command::Fingerprint { inputs, limits } => (inputs, None, limits.into()),
    };
    let stdout = std::io::stdout();
    match cli::run(&inputs, out.as_deref(), &limits, &mut stdout.lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("consentgate: {e}");
            ExitCode::from(2)
        }
    }
}
