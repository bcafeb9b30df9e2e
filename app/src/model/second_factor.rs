//! Second factors: an authenticator app (TOTP) and recovery codes.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/me/second-factor`: the caller's second factors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecondFactorStatus {
    /// Whether an authenticator app is enrolled (and confirmed).
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// Unix seconds until which codes are refused after too many wrong ones.
    pub locked_until: Option<i64>,
}

/// An enrolment in progress: what the authenticator app is given. It
/// counts once confirmed with a code from the app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TotpEnrolment {
    /// The secret in base32, to type in by hand.
    pub secret: String,
    /// The `otpauth://totp/...` URI the QR code holds.
    pub otpauth_uri: String,
    /// The QR code, an SVG image as a `data:` URL.
    pub qr_code: String,
}

/// Single-use recovery codes, shown this once: each signs in once in
/// place of a code from the app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}
