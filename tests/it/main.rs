//! Workspace-level black-box tests: the library as a host embeds it.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

mod embedding;
