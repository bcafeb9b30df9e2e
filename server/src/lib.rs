//! The `dpe` server: CLI, HTTP edge, provisioning engine, store and
//! authentication. `main.rs` is a thin shell over this library so that the
//! integration tests can build the same router.

pub mod addressing;
pub mod appliance;
pub mod auth;
pub mod blocking;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod dev;
pub mod engine;
pub mod gateway;
pub mod host_credentials;
pub mod http;
pub mod notify;
pub mod stack;
pub mod store;

/// An error and its sources on one line, `outer: inner: innermost`: the
/// chain is printed once, here, and nowhere else.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
