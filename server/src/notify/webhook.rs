//! Webhooks as Standard Webhooks says: a JSON body POSTed with
//! `webhook-id` (the same on every attempt of one delivery),
//! `webhook-timestamp` and `webhook-signature`: `v1,` and the base64
//! HMAC-SHA256 of `id.timestamp.body`, made by the `standardwebhooks`
//! crate, once per secret while a rotation keeps the old one valid.

use std::time::Duration;

use super::NotifyError;
use super::reach::{self, Encrypted};

/// How long a receiver may take to answer.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A client that follows no redirect (a receiver cannot send dpe
/// elsewhere) and gives up after [`TIMEOUT`].
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .unwrap_or_default()
}

/// A fresh secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use base64::Engine;
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// Checks a webhook URL against the rules: `https://`, or `http://` to
/// this machine; on an allowed host.
pub async fn check_url(url: &str, loopback_only: bool) -> Result<reqwest::Url, NotifyError> {
    let bad = || NotifyError::Url(url.to_owned());
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    let encrypted = match parsed.scheme() {
        "https" => Encrypted::Yes,
        "http" => Encrypted::No,
        _ => return Err(bad()),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad());
    }
    let host = parsed.host_str().ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = parsed.port_or_known_default().ok_or_else(bad)?;
    reach::check(host, port, encrypted, loopback_only).await?;
    Ok(parsed)
}

/// The `webhook-signature` header: one `v1,…` per secret.
pub fn signature(
    secrets: &[String],
    id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, NotifyError> {
    let mut signatures = Vec::new();
    for secret in secrets {
        let hook = standardwebhooks::Webhook::new(secret).map_err(NotifyError::Sign)?;
        signatures.push(
            hook.sign(id, timestamp, body.as_bytes())
                .map_err(NotifyError::Sign)?,
        );
    }
    Ok(signatures.join(" "))
}

/// POSTs `body` to `url`, signed with each of `secrets`.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    secrets: &[String],
    id: &str,
    body: String,
    loopback_only: bool,
) -> Result<(), NotifyError> {
    let url = check_url(url, loopback_only).await?;
    // The moment of sending by the wall clock, which receivers compare
    // with theirs to refuse replays (not the engine's, which tests move).
    let timestamp = crate::store::now();
    let signature = signature(secrets, id, timestamp, &body)?;
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(NotifyError::Http)?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(NotifyError::Status(answer.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_secret_signs_and_the_crates_verifier_accepts_either() {
        let (old, new) = (new_secret(), new_secret());
        assert!(new.starts_with("whsec_"));
        let now = crate::store::now();
        let header = signature(&[new.clone(), old.clone()], "msg_1", now, "{}").unwrap();
        assert_eq!(header.matches("v1,").count(), 2, "{header}");
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        headers.insert("webhook-signature", header.parse().unwrap());
        for secret in [&old, &new] {
            let hook = standardwebhooks::Webhook::new(secret).unwrap();
            hook.verify(b"{}", &headers).unwrap();
        }
        let other = standardwebhooks::Webhook::new(&new_secret()).unwrap();
        assert!(other.verify(b"{}", &headers).is_err());
    }
}
