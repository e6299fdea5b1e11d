//! consentgate: photos of learners are published only with consent.
//!
//! The crate is a pure core ([`media`]: sniff, scrub, fingerprint) with thin edges (the CLI in
//! `main.rs`). See `README.md` for the whole picture.

#![warn(missing_docs)]

pub mod cli;
pub mod media;
