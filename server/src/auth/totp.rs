//! Time-based one-time codes (RFC 6238, via `totp-rs`): the secret an
//! authenticator app is given at enrolment, its `otpauth://` URI as an SVG
//! QR code, and the check of a code against the time.
//!
//! The time is always passed in, so tests choose it. A code is accepted
//! for its own 30-second step and one step either side (clocks drift, and
//! a code typed at the end of its step arrives in the next), but never for
//! a step at or before the last one accepted: a code seen over a
//! shoulder, or replayed, is refused.

use base64::Engine as _;
use rand::RngCore as _;
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per step, digits per code: what every authenticator app
/// assumes when a URI names neither.
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// Steps either side of now that are accepted.
const SKEW_STEPS: i64 = 1;
/// 160 bits, the length RFC 4226 recommends for HMAC-SHA1.
const SECRET_BYTES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("the stored TOTP secret is malformed")]
    Secret(#[source] totp_rs::SecretParseError),
    #[error("cannot make a TOTP generator")]
    Generator(#[source] totp_rs::TotpUrlError),
}

/// A new random secret, base32 as authenticator apps take it by hand.
pub fn new_secret() -> String {
    let mut bytes = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    Secret::Raw(bytes).to_encoded().to_string()
}

fn generator(secret: &str, issuer: &str, account: &str) -> Result<TOTP, TotpError> {
    let bytes = Secret::Encoded(secret.to_owned())
        .to_bytes()
        .map_err(TotpError::Secret)?;
    // The URI's label is `issuer:account`: neither may hold a colon.
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECS,
        bytes,
        Some(issuer.replace(':', " ")),
        account.replace(':', " "),
    )
    .map_err(TotpError::Generator)
}

/// The `otpauth://totp/...` URI for `account` on the appliance `issuer`.
pub fn uri(secret: &str, issuer: &str, account: &str) -> Result<String, TotpError> {
    Ok(generator(secret, issuer, account)?.get_url())
}

/// `text` as a QR code, an SVG document to show in a page.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// The same SVG as a `data:` URL, for an `<img>` (no inline markup).
pub fn qr_data_url(text: &str) -> Option<String> {
    qr_svg(text).map(|svg| {
        format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg)
        )
    })
}

/// The code for the step holding `now` (Unix seconds): for tests.
pub fn code_at(secret: &str, now: u64) -> Result<String, TotpError> {
    Ok(generator(secret, "dpe", "test")?.generate(now))
}

/// Checks `code` at `now` (Unix seconds). `Ok(Some(step))`: accepted for
/// that step, which the caller stores as the last one used; `Ok(None)`:
/// wrong, or a step already used (`last_step`).
pub fn verify(
    secret: &str,
    code: &str,
    now: u64,
    last_step: Option<i64>,
) -> Result<Option<i64>, TotpError> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = generator(secret, "dpe", "check")?;
    let now_step = i64::try_from(now / STEP_SECS).unwrap_or(i64::MAX);
    for step in (now_step - SKEW_STEPS)..=(now_step + SKEW_STEPS) {
        if last_step.is_some_and(|last| step <= last) || step < 0 {
            continue;
        }
        let at = u64::try_from(step).unwrap_or(0) * STEP_SECS;
        // Compared in constant time: a timing must not tell digits apart.
        if constant_time_eq(totp.generate(at).as_bytes(), code.as_bytes()) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 test secret ("12345678901234567890"), base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_match_the_rfc_test_vectors() {
        // RFC 6238 appendix B, truncated to six digits.
        assert_eq!(code_at(RFC_SECRET, 59).unwrap(), "287082");
        assert_eq!(code_at(RFC_SECRET, 1_111_111_109).unwrap(), "081804");
        assert_eq!(code_at(RFC_SECRET, 2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now).unwrap();
        let step = i64::try_from(now / STEP_SECS).unwrap();
        assert_eq!(verify(&secret, &code, now, None).unwrap(), Some(step));
        assert_eq!(
            verify(&secret, &code, now + STEP_SECS, None).unwrap(),
            Some(step)
        );
        assert_eq!(
            verify(&secret, &code, now - STEP_SECS, None).unwrap(),
            Some(step)
        );
        assert_eq!(
            verify(&secret, &code, now + 2 * STEP_SECS, None).unwrap(),
            None
        );
        assert_eq!(
            verify(&secret, &code, now - 2 * STEP_SECS, None).unwrap(),
            None
        );
    }

    #[test]
    fn a_code_once_used_is_refused_and_so_are_older_ones() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now).unwrap();
        let used = verify(&secret, &code, now, None).unwrap();
        assert!(used.is_some());
        assert_eq!(verify(&secret, &code, now, used).unwrap(), None, "reused");
        let earlier = code_at(&secret, now - STEP_SECS).unwrap();
        assert_eq!(verify(&secret, &earlier, now, used).unwrap(), None);
        let next = code_at(&secret, now + STEP_SECS).unwrap();
        assert!(
            verify(&secret, &next, now + STEP_SECS, used)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn malformed_codes_are_wrong_not_errors() {
        let secret = new_secret();
        for code in ["", "12345", "1234567", "abcdef", "12 456"] {
            assert_eq!(verify(&secret, code, 1_800_000_000, None).unwrap(), None);
        }
    }

    #[test]
    fn the_enrolment_uri_names_the_appliance_and_account_and_draws_as_a_qr_code() {
        let secret = new_secret();
        let uri = uri(&secret, "dpe: lab", "ann").unwrap();
        assert!(uri.starts_with("otpauth://totp/dpe%20%20lab:ann?"), "{uri}");
        assert!(uri.contains(&format!("secret={secret}")), "{uri}");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        assert!(
            qr_data_url(&uri)
                .unwrap()
                .starts_with("data:image/svg+xml;base64,")
        );
    }
}
