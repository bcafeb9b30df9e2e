//! Passkeys and security keys (WebAuthn, by webauthn-rs): adding one on
//! the account page, signing in with one after the password, removing
//! one. The relying party is the portal's origin (`public_origin`, else
//! the one the request addressed); each ceremony's state waits in the
//! server-side session between its two requests, never in the browser.
//!
//! A passkey verifies its holder (user verification required); a
//! security key needs only a touch (user presence), so that a plain
//! U2F/FIDO2 key with no PIN serves. An account with both is asked for
//! either in one ceremony with verification preferred: webauthn-rs still
//! refuses a passkey's answer without verification, since it checks each
//! credential against the policy it was registered under.

use app::error::AppError;
use app::model::{AddedPasskey, Me, PasskeyChallenge, PasskeyInfo, PasskeyKind};
use app::policy::{Authorized, rights};
use app::service::{PasskeyService, RequestContext};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, Credential, CredentialID, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn,
    WebauthnBuilder, WebauthnResult,
};

use super::codes::CodeRefusal;
use super::{who_peer, with_codes_forgotten};
use crate::appliance::Appliance;
use crate::appliance::errors::{internal, session_err, store_err};
use crate::store::audit::{self, Audit};
use crate::store::passkeys::{self, PasskeyRow};
use crate::store::{now, second_factors, settings};

/// The session's key for a passkey being added.
const SESSION_REGISTRATION: &str = "passkey_registration";
/// The session's key for a sign-in with a passkey under way.
const SESSION_SIGN_IN: &str = "passkey_sign_in";
/// The session's key for a confirmation with a passkey under way.
const SESSION_CONFIRM: &str = "passkey_confirm";
/// The session's key for a confirmation just given, spent by the next
/// action that needs a fresh second factor.
const SESSION_FRESH: &str = "passkey_fresh";
/// How long a confirmation stays fresh, in seconds.
const FRESH_FOR: i64 = 300;
/// The longest name of a key.
const NAME_MAX: usize = 64;

/// A key being added: whose, under what name, and webauthn-rs's state
/// (which says its kind).
#[derive(Serialize, Deserialize)]
struct Registration {
    user_id: i64,
    name: String,
    state: Adding,
}

/// webauthn-rs's state of a key being added, by kind.
#[derive(Serialize, Deserialize)]
enum Adding {
    Passkey(PasskeyRegistration),
    SecurityKey(SecurityKeyRegistration),
}

/// A sign-in (or confirmation) with a key under way.
#[derive(Serialize, Deserialize)]
struct SignIn {
    user_id: i64,
    state: Asking,
}

/// webauthn-rs's state of an assertion: over passkeys only (verification
/// required), or over security keys, perhaps with passkeys among them.
#[derive(Serialize, Deserialize)]
enum Asking {
    Passkeys(PasskeyAuthentication),
    SecurityKeys(SecurityKeyAuthentication),
}

/// A stored key as webauthn-rs reads it.
enum Key {
    Passkey(Passkey),
    SecurityKey(SecurityKey),
}

impl Key {
    fn read(row: &PasskeyRow) -> Result<Self, AppError> {
        let parsed = match row.kind {
            PasskeyKind::Passkey => serde_json::from_str(&row.credential).map(Key::Passkey),
            PasskeyKind::SecurityKey => serde_json::from_str(&row.credential).map(Key::SecurityKey),
        };
        parsed.map_err(|e| internal(&e))
    }

    fn kind(&self) -> PasskeyKind {
        match self {
            Key::Passkey(_) => PasskeyKind::Passkey,
            Key::SecurityKey(_) => PasskeyKind::SecurityKey,
        }
    }

    fn cred_id(&self) -> &CredentialID {
        match self {
            Key::Passkey(k) => k.cred_id(),
            Key::SecurityKey(k) => k.cred_id(),
        }
    }

    /// As one of a security-key ceremony's credentials. The credential is
    /// the same; its registration policy (UV required for a passkey) goes
    /// with it and is still checked.
    fn as_security_key(&self) -> SecurityKey {
        match self {
            Key::Passkey(k) => SecurityKey::from(Credential::from(k.clone())),
            Key::SecurityKey(k) => k.clone(),
        }
    }

    /// Takes in a sign-in's result (its counter); answers the JSON to store.
    fn updated(mut self, result: &AuthenticationResult) -> Result<String, AppError> {
        match &mut self {
            Key::Passkey(k) => k.update_credential(result),
            Key::SecurityKey(k) => k.update_credential(result),
        };
        self.json()
    }

    fn json(&self) -> Result<String, AppError> {
        match self {
            Key::Passkey(k) => serde_json::to_string(k),
            Key::SecurityKey(k) => serde_json::to_string(k),
        }
        .map_err(|e| internal(&e))
    }
}

/// A confirmation given with a passkey: whose, and when.
#[derive(Serialize, Deserialize)]
struct Fresh {
    user_id: i64,
    at: i64,
}

impl Appliance {
    /// Whether the session holds a fresh confirmation by one of `user_id`'s
    /// passkeys; spends it (each confirmation serves once).
    pub(in crate::appliance) async fn take_fresh_passkey(
        &self,
        ctx: &RequestContext,
        user_id: i64,
    ) -> Result<bool, AppError> {
        let Some(session) = &ctx.session else {
            return Ok(false);
        };
        let fresh = session
            .remove::<Fresh>(SESSION_FRESH)
            .await
            .map_err(session_err)?;
        Ok(fresh.is_some_and(|f| f.user_id == user_id && now() - f.at <= FRESH_FOR))
    }

    /// Whether the account has a passkey.
    pub(in crate::appliance) async fn has_passkey(&self, user_id: i64) -> Result<bool, AppError> {
        Ok(!self.stored_passkeys(user_id).await?.is_empty())
    }

    /// The options for `navigator.credentials.get()` over `user_id`'s
    /// keys, the ceremony's state kept in the session under `key`.
    async fn start_assertion(
        &self,
        ctx: &RequestContext,
        user_id: i64,
        key: &str,
    ) -> Result<PasskeyChallenge, AppError> {
        let session = session_of(ctx)?;
        let keys: Vec<Key> = self
            .stored_passkeys(user_id)
            .await?
            .into_iter()
            .map(|(_, key)| key)
            .collect();
        let passkeys: Vec<Passkey> = keys
            .iter()
            .filter_map(|k| match k {
                Key::Passkey(p) => Some(p.clone()),
                Key::SecurityKey(_) => None,
            })
            .collect();
        let security_keys: Vec<SecurityKey> = keys.iter().map(Key::as_security_key).collect();
        let (options, state) = if keys.is_empty() {
            return Err(AppError::NotFound("passkey".into()));
        } else if passkeys.len() == keys.len() {
            let (options, state) = self
                .relying_party(ctx, false)
                .await?
                .start_passkey_authentication(&passkeys)
                .map_err(|e| internal(&e))?;
            (options, Asking::Passkeys(state))
        } else {
            // Security keys only: verification discouraged (a touch).
            // With passkeys among them: preferred, so that a passkey
            // verifies its holder, as it must.
            let touch_only = passkeys.is_empty();
            let (options, state) = self
                .relying_party(ctx, touch_only)
                .await?
                .start_securitykey_authentication(&security_keys)
                .map_err(|e| internal(&e))?;
            (options, Asking::SecurityKeys(state))
        };
        session
            .insert(key, SignIn { user_id, state })
            .await
            .map_err(session_err)?;
        challenge(&options)
    }

    /// Checks the browser's answer to the ceremony kept under `key` for
    /// `user_id` (spent, whatever the outcome): refused while locked, a
    /// refused answer counted as a wrong code; the key's counter updated
    /// and `attempt` audited as its use.
    async fn check_assertion(
        &self,
        ctx: &RequestContext,
        user_id: i64,
        key: &str,
        credential: serde_json::Value,
        attempt: Audit,
    ) -> Result<(), AppError> {
        let session = session_of(ctx)?;
        let credential: PublicKeyCredential = answer(credential)?;
        // Each challenge answers once.
        let started = session
            .remove::<SignIn>(key)
            .await
            .map_err(session_err)?
            .filter(|s| s.user_id == user_id)
            .ok_or_else(|| {
                AppError::Conflict("no ceremony with a passkey was started: start again".into())
            })?;
        let at = now();
        if let Some(until) = self.locked_until(user_id, at).await? {
            self.audit(attempt.detail("second factor locked").failed())
                .await;
            return Err(Self::refusal(CodeRefusal::Locked(until)));
        }
        let relying_party = self.relying_party(ctx, false).await?;
        let checked = match &started.state {
            Asking::Passkeys(state) => {
                relying_party.finish_passkey_authentication(&credential, state)
            }
            Asking::SecurityKeys(state) => {
                relying_party.finish_securitykey_authentication(&credential, state)
            }
        };
        let result = match checked {
            Ok(result) => result,
            Err(e) => {
                let refusal = self.count_wrong(user_id, at, &attempt).await?;
                self.audit(attempt.detail(format!("passkey refused: {e}")).failed())
                    .await;
                return Err(match refusal {
                    CodeRefusal::Wrong => {
                        AppError::invalid("credential", "the key's answer was refused")
                    }
                    locked @ CodeRefusal::Locked(_) => Self::refusal(locked),
                });
            }
        };
        let keys = self.stored_passkeys(user_id).await?;
        let (row, key) = keys
            .into_iter()
            .find(|(_, k)| k.cred_id() == result.cred_id())
            .ok_or_else(|| AppError::Conflict("that key was removed meanwhile".into()))?;
        let json = key.updated(&result)?;
        let key_id = row.id;
        let used = attempt
            .action("second_factor.passkey.use")
            .detail(format!("{} {:?}", described(row.kind), row.name))
            .ok();
        self.store
            .write(move |tx| {
                passkeys::used(tx, user_id, key_id, &json, at)?;
                second_factors::clear_failures(tx, user_id, at)?;
                audit::record(tx, &used)
            })
            .await
            .map_err(store_err)
    }

    /// Starts adding a key called `name` to `user_id`'s account: the
    /// options for `navigator.credentials.create()`, the state kept in the
    /// session.
    async fn start_registration(
        &self,
        ctx: &RequestContext,
        user_id: i64,
        username: &str,
        name: String,
        kind: PasskeyKind,
    ) -> Result<PasskeyChallenge, AppError> {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control)
        {
            return Err(AppError::invalid(
                "name",
                format!("give the key a name of 1 to {NAME_MAX} characters"),
            ));
        }
        let session = session_of(ctx)?;
        let keys = self.stored_passkeys(user_id).await?;
        if keys.iter().any(|(row, _)| row.name == name) {
            return Err(AppError::invalid("name", "you have a key of that name"));
        }
        let exclude = keys.iter().map(|(_, k)| k.cred_id().clone()).collect();
        let handle = Uuid::from_u128(u128::from(user_id.unsigned_abs()));
        let relying_party = self.relying_party(ctx, true).await?;
        let started: WebauthnResult<(CreationChallengeResponse, Adding)> = match kind {
            PasskeyKind::Passkey => relying_party
                .start_passkey_registration(handle, username, username, Some(exclude))
                .map(|(options, state)| (options, Adding::Passkey(state))),
            PasskeyKind::SecurityKey => relying_party
                .start_securitykey_registration(
                    handle,
                    username,
                    username,
                    Some(exclude),
                    None,
                    None,
                )
                .map(|(options, state)| (options, Adding::SecurityKey(state))),
        };
        let (options, state) = started.map_err(|e| internal(&e))?;
        let registration = Registration {
            user_id,
            name,
            state,
        };
        session
            .insert(SESSION_REGISTRATION, registration)
            .await
            .map_err(session_err)?;
        challenge(&options)
    }

    /// Finishes adding the key with the browser's answer, audited on
    /// `record`; the account's first second factor brings its ten recovery
    /// codes, as the authenticator app's enrolment does.
    async fn finish_registration(
        &self,
        ctx: &RequestContext,
        user_id: i64,
        credential: serde_json::Value,
        record: Audit,
    ) -> Result<AddedPasskey, AppError> {
        let session = session_of(ctx)?;
        let credential: RegisterPublicKeyCredential = answer(credential)?;
        let registration = session
            .remove::<Registration>(SESSION_REGISTRATION)
            .await
            .map_err(session_err)?
            .filter(|r| r.user_id == user_id)
            .ok_or_else(|| AppError::Conflict("no passkey is being added: start again".into()))?;
        let enrol = record.clone().action("second_factor.passkey.enrol");
        let relying_party = self.relying_party(ctx, true).await?;
        let finished = match &registration.state {
            Adding::Passkey(state) => relying_party
                .finish_passkey_registration(&credential, state)
                .map(Key::Passkey),
            Adding::SecurityKey(state) => relying_party
                .finish_securitykey_registration(&credential, state)
                .map(Key::SecurityKey),
        };
        let key = match finished {
            Ok(key) => key,
            Err(e) => {
                self.audit(enrol.detail(format!("refused: {e}")).failed())
                    .await;
                return Err(AppError::invalid(
                    "credential",
                    "the key's answer was refused: try again",
                ));
            }
        };
        let first = !self.has_second_factor(user_id).await? && !self.has_passkey(user_id).await?;
        let id_text = credential_id(key.cred_id())?;
        let json = key.json()?;
        let kind = key.kind();
        let (name, at) = (registration.name, now());
        let entry = enrol
            .detail(format!("{} {name:?} added", described(kind)))
            .ok();
        let row_name = name.clone();
        let id = self
            .store
            .write(move |tx| {
                let id = passkeys::insert(tx, user_id, &row_name, kind, &id_text, &json, at)?;
                audit::record(tx, &entry)?;
                Ok(id)
            })
            .await
            .map_err(store_err)?;
        let recovery_codes = if first {
            let codes = self.new_recovery_codes(user_id).await?;
            let made = record
                .action("second_factor.recovery_codes")
                .detail("ten recovery codes made with the first passkey")
                .ok();
            self.audit(made).await;
            Some(codes)
        } else {
            None
        };
        Ok(AddedPasskey {
            passkey: PasskeyInfo {
                id,
                name,
                kind,
                created_at: at,
                last_used_at: None,
            },
            recovery_codes,
        })
    }

    /// The relying party for this request: the portal's origin, its host
    /// the RP id (browsers refuse an IP address there). `touch_only`: its
    /// security-key ceremonies discourage user verification (a key with
    /// no PIN serves); else they prefer it. Passkeys' always require it.
    async fn relying_party(
        &self,
        ctx: &RequestContext,
        touch_only: bool,
    ) -> Result<Webauthn, AppError> {
        let origin = ctx.portal_origin.as_deref().ok_or(AppError::Internal)?;
        let origin = Url::parse(origin).map_err(|e| internal(&e))?;
        let unusable = || {
            AppError::Conflict(
                "passkeys need the portal reached by its name (https://name), not an address"
                    .into(),
            )
        };
        let host = origin.domain().ok_or_else(unusable)?.to_owned();
        let name = self
            .store
            .read(|c| settings::get(c, settings::APPLIANCE_NAME))
            .await
            .map_err(store_err)?
            .unwrap_or_else(|| "dpe".to_owned());
        WebauthnBuilder::new(&host, &origin)
            .map_err(|_| unusable())?
            .rp_name(&name)
            .danger_set_user_presence_only_security_keys(touch_only)
            .build()
            .map_err(|e| internal(&e))
    }

    /// The account's keys as webauthn-rs reads them, with their rows.
    async fn stored_passkeys(&self, user_id: i64) -> Result<Vec<(PasskeyRow, Key)>, AppError> {
        let rows = self
            .store
            .read(move |c| passkeys::of_user(c, user_id))
            .await
            .map_err(store_err)?;
        rows.into_iter()
            .map(|row| {
                let key = Key::read(&row)?;
                Ok((row, key))
            })
            .collect()
    }
}

/// The session a ceremony needs (a bearer token has none).
fn session_of(ctx: &RequestContext) -> Result<&Session, AppError> {
    ctx.session.as_ref().ok_or_else(|| {
        AppError::Conflict("passkeys are added and used from a browser's session".into())
    })
}

fn info(row: &PasskeyRow) -> PasskeyInfo {
    PasskeyInfo {
        id: row.id,
        name: row.name.clone(),
        kind: row.kind,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }
}

/// The browser's answer, read as `T`; a clear refusal when it is not one.
fn answer<T: serde::de::DeserializeOwned>(credential: serde_json::Value) -> Result<T, AppError> {
    serde_json::from_value(credential)
        .map_err(|_| AppError::invalid("credential", "is not a WebAuthn credential's answer"))
}

fn challenge(options: &impl Serialize) -> Result<PasskeyChallenge, AppError> {
    Ok(PasskeyChallenge {
        options: serde_json::to_value(options).map_err(|e| internal(&e))?,
    })
}

/// What the audit log calls a key of this kind.
fn described(kind: PasskeyKind) -> &'static str {
    match kind {
        PasskeyKind::Passkey => "passkey",
        PasskeyKind::SecurityKey => "security key",
    }
}

/// The key's credential id as text (base64url), which the store keeps
/// unique.
fn credential_id(id: &CredentialID) -> Result<String, AppError> {
    match serde_json::to_value(id).map_err(|e| internal(&e))? {
        serde_json::Value::String(id) => Ok(id),
        other => Ok(other.to_string()),
    }
}

#[async_trait]
impl PasskeyService for Appliance {
    async fn begin_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
        name: String,
        kind: PasskeyKind,
    ) -> Result<PasskeyChallenge, AppError> {
        let who = who.principal();
        self.start_registration(ctx, who.user_id, &who.username, name, kind)
            .await
    }

    async fn finish_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<AddedPasskey, AppError> {
        let who = who.principal();
        let record = Audit::by(who).object(format!("user {}", who.username));
        self.finish_registration(ctx, who.user_id, credential, record)
            .await
    }

    async fn begin_passkey_enrolment(
        &self,
        ctx: &RequestContext,
        name: String,
        kind: PasskeyKind,
    ) -> Result<PasskeyChallenge, AppError> {
        let session = session_of(ctx)?;
        let user = self.pending_user(session, true).await?;
        self.start_registration(ctx, user.id, &user.username, name, kind)
            .await
    }

    async fn finish_passkey_enrolment(
        &self,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<AddedPasskey, AppError> {
        let session = session_of(ctx)?;
        let user = self.pending_user(session, true).await?;
        self.throttled(&user.username, ctx.peer)?;
        let record = Audit::by_account(user.username.clone(), user.id)
            .department(user.department_id)
            .from_address(ctx.peer)
            .object(format!("user {}", user.username));
        let added = self
            .finish_registration(ctx, user.id, credential, record)
            .await?;
        self.finish_pending(session, &user, ctx.peer).await?;
        Ok(added)
    }

    async fn remove_passkey(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        id: i64,
        password: String,
    ) -> Result<(), AppError> {
        let who = who.principal();
        let user_id = who.user_id;
        self.throttled(&who.username, who_peer(who))?;
        let record = Audit::by(who)
            .action("second_factor.passkey.remove")
            .object(format!("user {}", who.username));
        if !self.password_is_right(user_id, password).await? {
            self.audit(record.detail("wrong password").failed()).await;
            return Err(AppError::invalid("password", "is not your password"));
        }
        self.store
            .write(move |tx| {
                let (name, kind) = passkeys::remove(tx, user_id, id)?;
                let forgotten = second_factors::forget_codes_without_factor(tx, user_id)?;
                let removed = format!("{} {name:?} removed", described(kind));
                let detail = with_codes_forgotten(&removed, forgotten);
                audit::record(tx, &record.detail(detail).ok())
            })
            .await
            .map_err(store_err)
    }

    async fn begin_passkey_sign_in(
        &self,
        ctx: &RequestContext,
    ) -> Result<PasskeyChallenge, AppError> {
        let session = session_of(ctx)?;
        let user = self.pending_user(session, false).await?;
        self.start_assertion(ctx, user.id, SESSION_SIGN_IN).await
    }

    async fn finish_passkey_sign_in(
        &self,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<Me, AppError> {
        let session = session_of(ctx)?;
        let user = self.pending_user(session, false).await?;
        let attempt = Audit::by_account(user.username.clone(), user.id)
            .department(user.department_id)
            .from_address(ctx.peer)
            .action("sign_in");
        if let Err(e) = self.throttled(&user.username, ctx.peer) {
            self.audit_throttled(ctx.peer, attempt).await;
            return Err(e);
        }
        self.check_assertion(ctx, user.id, SESSION_SIGN_IN, credential, attempt)
            .await?;
        self.finish_pending(session, &user, ctx.peer).await?;
        Ok(Me {
            role: user.effective_role(),
            username: user.username,
        })
    }

    async fn begin_passkey_confirmation(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
    ) -> Result<PasskeyChallenge, AppError> {
        let who = who.principal();
        self.start_assertion(ctx, who.user_id, SESSION_CONFIRM)
            .await
    }

    async fn finish_passkey_confirmation(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        ctx: &RequestContext,
        credential: serde_json::Value,
    ) -> Result<(), AppError> {
        let who = who.principal();
        let session = session_of(ctx)?;
        // Not throttled as passwords are: a signature cannot be guessed,
        // and each refused answer counts towards the lock.
        let attempt = Audit::by(who)
            .action("second_factor.verify")
            .object(format!("user {}", who.username));
        self.check_assertion(ctx, who.user_id, SESSION_CONFIRM, credential, attempt)
            .await?;
        let fresh = Fresh {
            user_id: who.user_id,
            at: now(),
        };
        session
            .insert(SESSION_FRESH, fresh)
            .await
            .map_err(session_err)
    }
}

/// The keys of the account, for its second-factor status.
pub(super) fn listed(rows: &[PasskeyRow]) -> Vec<PasskeyInfo> {
    rows.iter().map(info).collect()
}
