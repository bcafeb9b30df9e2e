//! Passkeys and security keys (WebAuthn) as a second factor: adding and
//! removing them on the account page, and signing in with one after the
//! password.

use async_trait::async_trait;

use super::RequestContext;
use crate::error::AppError;
use crate::model::{Me, PasskeyChallenge, PasskeyInfo};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait PasskeyService: Send + Sync + 'static {
    /// Starts adding a passkey called `name` (the relying party is the
    /// portal's origin as `ctx` addressed it, or `public_origin`): the
    /// options for `navigator.credentials.create()`. The ceremony's state
    /// stays in the session, so a session is needed.
    async fn begin_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
        name: String,
    ) -> Result<PasskeyChallenge, AppError>;
    /// Finishes it with the browser's answer (its JSON form); the key is
    /// then asked for after the password.
    async fn finish_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<PasskeyInfo, AppError>;
    /// Removes the caller's passkey `id`, given the account's password.
    async fn remove_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        id: i64,
        password: String,
    ) -> Result<(), AppError>;
    /// Anyone may try, on a session whose password was right and that
    /// waits for its second factor: the options for
    /// `navigator.credentials.get()` over the account's keys. `NotFound`
    /// when it has none.
    async fn begin_passkey_sign_in(
        &self,
        ctx: &RequestContext,
    ) -> Result<PasskeyChallenge, AppError>;
    /// Anyone may try, on such a session: checks the browser's answer
    /// (throttled; a wrong one counts towards the lock as a wrong code
    /// does), then signs the session in.
    async fn finish_passkey_sign_in(
        &self,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<Me, AppError>;
}
