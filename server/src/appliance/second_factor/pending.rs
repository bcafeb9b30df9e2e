//! The sign-in between the password and the second factor: what it asks
//! for next, the session that waits, and its end.

use std::net::IpAddr;

use app::error::AppError;
use tower_sessions::Session;

use crate::appliance::Appliance;
use crate::appliance::errors::{session_err, store_err};
use crate::auth::{
    SESSION_MUST_ENROL, SESSION_PENDING_AT, SESSION_PENDING_USER, SESSION_SECOND_FACTOR_AT,
    SESSION_USER,
};
use crate::store::audit::Audit;
use crate::store::users::UserRow;
use crate::store::{now, passkeys, second_factors, users};

/// How long a session waits for the second factor after the password.
const PENDING_SECS: i64 = 300;

/// What signing in asks for after a right password.
pub(in crate::appliance) enum NextStep {
    /// Nothing more: the session is signed in.
    SignedIn,
    /// A code from the app, a recovery code, or a passkey.
    Code,
    /// The account must enrol a second factor first.
    Enrol,
}

impl Appliance {
    /// Whether `user` has a second factor, and else whether it must enrol
    /// one: what the sign-in asks for after the password.
    pub(in crate::appliance) async fn second_factor_step(
        &self,
        user: &UserRow,
    ) -> Result<NextStep, AppError> {
        let row = user.clone();
        self.store
            .read(move |c| {
                let has = second_factors::totp(c, row.id)?
                    .is_some_and(|r| r.confirmed_at.is_some())
                    || passkeys::any(c, row.id)?;
                Ok(match (has, second_factors::required_of(c, &row)?) {
                    (true, _) => NextStep::Code,
                    (false, true) => NextStep::Enrol,
                    (false, false) => NextStep::SignedIn,
                })
            })
            .await
            .map_err(store_err)
    }

    /// Leaves `session` waiting for `user`'s second factor (or, with
    /// `enrol`, its enrolment): not signed in.
    pub(in crate::appliance) async fn await_second_factor(
        &self,
        session: &Session,
        user: &UserRow,
        peer: IpAddr,
        enrol: bool,
    ) -> Result<(), AppError> {
        session.cycle_id().await.map_err(session_err)?;
        // Whoever the session was signed in as before, it is not now.
        let _: Option<i64> = session.remove(SESSION_USER).await.map_err(session_err)?;
        session
            .insert(SESSION_PENDING_USER, user.id)
            .await
            .map_err(session_err)?;
        session
            .insert(SESSION_PENDING_AT, now())
            .await
            .map_err(session_err)?;
        session
            .insert(SESSION_MUST_ENROL, enrol)
            .await
            .map_err(session_err)?;
        let record = Audit::by_account(user.username.clone(), user.id)
            .department(user.department_id)
            .from_address(peer)
            .action("sign_in.password")
            .detail(if enrol {
                "password right; a second factor must be enrolled first"
            } else {
                "password right; waiting for the second factor"
            })
            .ok();
        self.audit(record).await;
        Ok(())
    }

    /// The account whose password `session` proved a moment ago and that
    /// waits for its second factor (`enrol`: for its enrolment);
    /// `Unauthenticated` when there is none, or it waited too long.
    pub(super) async fn pending_user(
        &self,
        session: &Session,
        enrol: bool,
    ) -> Result<UserRow, AppError> {
        let pending = session
            .get::<i64>(SESSION_PENDING_USER)
            .await
            .map_err(session_err)?;
        let since = session
            .get::<i64>(SESSION_PENDING_AT)
            .await
            .map_err(session_err)?;
        let must_enrol = session
            .get::<bool>(SESSION_MUST_ENROL)
            .await
            .map_err(session_err)?
            .unwrap_or(false);
        let (Some(user_id), Some(since)) = (pending, since) else {
            return Err(AppError::Unauthenticated);
        };
        if now() - since > PENDING_SECS {
            session.flush().await.map_err(session_err)?;
            return Err(AppError::Unauthenticated);
        }
        if must_enrol != enrol {
            return Err(AppError::Unauthenticated);
        }
        self.store
            .read(move |c| users::by_id(c, user_id))
            .await
            .map_err(store_err)?
            .filter(|u| !u.disabled)
            .ok_or(AppError::Unauthenticated)
    }

    /// Signs in the session that waited for `user`'s second factor.
    pub(super) async fn finish_pending(
        &self,
        session: &Session,
        user: &UserRow,
        peer: IpAddr,
    ) -> Result<(), AppError> {
        self.bind_session(session, user, peer).await?;
        session
            .insert(SESSION_SECOND_FACTOR_AT, now())
            .await
            .map_err(session_err)
    }
}
