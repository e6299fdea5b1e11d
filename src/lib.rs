//! consentgate: photos of learners are published only with consent.
//!
//! A pure core ([`media`]: sniff, scrub, fingerprint; [`policy`]: the rules; [`roster`]: the MIS
//! import's parsing) under one application layer ([`app`]: every use case), with thin edges:
//! [`store`], [`objects`] and [`mail`] (SMTP) below it, [`http`] (the JSON API and the pages) and
//! the CLI in `main.rs` above it, and [`service`] to start it all. See `README.md` for the whole
//! picture.

#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod mail;
pub mod media;
pub mod objects;
pub mod policy;
pub mod roster;
pub mod service;
pub mod store;
pub mod tokens;
