//! Second factors: an authenticator app (TOTP), recovery codes, and
//! passkeys and security keys (WebAuthn).

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
    /// Passkeys and security keys, oldest first.
    pub passkeys: Vec<PasskeyInfo>,
}

/// A passkey or security key of the caller's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PasskeyInfo {
    pub id: i64,
    /// What its owner called it.
    pub name: String,
    pub kind: PasskeyKind,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last sign-in with it.
    pub last_used_at: Option<i64>,
}

/// A key just added; when it is the account's first second factor, its
/// ten recovery codes too, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AddedPasskey {
    pub passkey: PasskeyInfo,
    pub recovery_codes: Option<RecoveryCodes>,
}

/// A WebAuthn ceremony's options, for the browser's
/// `navigator.credentials.create()` (adding a key) or `.get()` (signing in
/// with one): `{"publicKey": {...}}` with binary fields in base64url. Its
/// state stays in the server's session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PasskeyChallenge {
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub options: serde_json::Value,
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

super::states::text_enum! {
    /// What a key asks of its holder at each use.
    pub enum PasskeyKind {
        /// Verifies who holds it (a PIN, a fingerprint, a face) each time.
        Passkey = "passkey",
        /// A touch is enough: a plain U2F or FIDO2 key with no PIN.
        SecurityKey = "security_key",
    }
}

super::states::text_enum! {
    /// Which accounts the appliance requires a second factor of (beyond
    /// those of the departments that require one).
    pub enum SecondFactorRule {
        /// Only the departments that require it.
        Departments = "departments",
        /// Appliance and department admins, and those departments.
        Admins = "admins",
        /// Every account.
        Everyone = "everyone",
    }
}

/// `GET`/`PUT /api/v1/settings/second-factor`: who must use a second
/// factor. An account that must and has none is led to enrol right after
/// its password, and can do nothing else first. API tokens are unaffected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecondFactorPolicy {
    pub required_of: SecondFactorRule,
    /// Departments whose members (and those of the departments below)
    /// must use one.
    #[serde(default)]
    pub departments: Vec<i64>,
}
