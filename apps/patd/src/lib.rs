//! `patd` as a library: the application a test (or another binary) can build and run
//! in-process, on a port of its own choosing (0: any free one), beside the CLI's
//! commands. `main.rs` only parses the command line and calls these.

pub mod cli;
pub mod config;
mod request_log;
pub mod rotate;
pub mod server;
pub mod wiring;

pub use server::Application;
