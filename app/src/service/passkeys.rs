//! Passkeys and security keys (WebAuthn) as a second factor: adding and
//! removing them on the account page, and signing in with one after the
//! password.

use async_trait::async_trait;

use super::RequestContext;
use crate::error::AppError;
use crate::model::{AddedPasskey, Me, PasskeyChallenge, PasskeyKind};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait PasskeyService: Send + Sync + 'static {
    /// Starts adding a key of `kind` called `name` (the relying party is the
    /// portal's origin as `ctx` addressed it, or `public_origin`): the
    /// options for `navigator.credentials.create()`. The ceremony's state
    /// stays in the session, so a session is needed.
    async fn begin_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
        name: String,
        kind: PasskeyKind,
    ) -> Result<PasskeyChallenge, AppError>;
    /// Finishes it with the browser's answer (its JSON form); the key is
    /// then asked for after the password. The account's first second
    /// factor comes with its ten recovery codes.
    async fn finish_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<AddedPasskey, AppError>;
    /// Removes the caller's passkey `id`, given the account's password.
    async fn remove_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        id: i64,
        password: String,
    ) -> Result<(), AppError>;
    /// Anyone may try, on a session whose password was right and whose
    /// account must enrol a second factor first: starts adding a key, as
    /// [`PasskeyService::begin_passkey`].
    async fn begin_passkey_enrolment(
        &self,
        ctx: &RequestContext,
        name: String,
        kind: PasskeyKind,
    ) -> Result<PasskeyChallenge, AppError>;
    /// Anyone may try, on such a session: finishes adding the key
    /// (throttled), answers it with the recovery codes and signs the
    /// session in.
    async fn finish_passkey_enrolment(
        &self,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<AddedPasskey, AppError>;
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
    /// Starts confirming the caller's second factor with one of their
    /// keys, for an action that needs a fresh one (creating an API token):
    /// the options for `navigator.credentials.get()`. `NotFound` when the
    /// account has no key.
    async fn begin_passkey_confirmation(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
    ) -> Result<PasskeyChallenge, AppError>;
    /// Checks the browser's answer (a refused one counts towards the
    /// lock); the session then holds a confirmation that the next such
    /// action spends, within five minutes.
    async fn finish_passkey_confirmation(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<(), AppError>;
}
