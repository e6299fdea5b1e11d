//! consentgate: photos of learners are published only with consent.
//!
//! A pure core ([`media`]: sniff, scrub, fingerprint; [`policy`]: the rules) with thin edges
//! ([`store`], [`objects`], [`http`], the CLI in `main.rs`). See `README.md` for the whole picture.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod http;
pub mod media;
pub mod objects;
pub mod policy;
pub mod roster;
pub mod service;
pub mod store;
pub mod tokens;
