//! Workspace-level black-box tests: the library as a host embeds it, and the real `patd`
//! binary driven over HTTP on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

mod embedding;
mod patd;
mod secret_scanning;
