//! The health checks' HTTP client: a field of the `Engine`, so a leaf.
//! A guest is not trusted: its answer may redirect anywhere or never end,
//! so no redirect is followed, no proxy is used, and a check gives up
//! after a few seconds (`health.rs` reads at most 1 MiB).

use std::time::Duration;

use super::EngineError;

const TIMEOUT: Duration = Duration::from_secs(3);

pub fn client() -> Result<reqwest::Client, EngineError> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(EngineError::HttpClient)
}
