//! What a person does to their own account: changing its password.

use app::error::AppError;
use app::model::AccountSource;
use app::policy::{Authorized, rights};
use app::service::RequestContext;

use super::Appliance;
use super::errors::{internal, store_err};
use crate::auth::password;
use crate::blocking::run_blocking;
use crate::store::audit::{self, Audit};
use crate::store::users;

impl Appliance {
    pub(super) async fn change_own_password(
        &self,
        ctx: &RequestContext,
        who: Authorized<'_, rights::ViewSelf>,
        current: String,
        new: String,
    ) -> Result<(), AppError> {
        let who = who.principal();
        // Guessing the current password from a stolen session is throttled
        // as sign-ins are.
        self.throttled(&who.username, ctx.peer)?;
        let id = who.user_id;
        let user = self
            .store
            .read(move |c| users::by_id(c, id))
            .await
            .map_err(store_err)?
            .ok_or(AppError::Unauthenticated)?;
        match user.source {
            AccountSource::Local => {}
            AccountSource::Directory => {
                return Err(AppError::Conflict(
                    "a directory account's password is changed in the directory".into(),
                ));
            }
        }
        let record = Audit::by(who)
            .from_address(ctx.peer)
            .action("user.password")
            .object(format!("user {}", who.username));
        let stored = user.password_hash.clone();
        let right = run_blocking(move || password::verify(stored.as_deref(), &current)).await;
        if !right {
            self.audit(record.detail("wrong current password").failed())
                .await;
            return Err(AppError::invalid(
                "current_password",
                "is not your current password",
            ));
        }
        if let Some(why) = password::weakness(&new, &[&who.username]) {
            return Err(AppError::invalid("new_password", why));
        }
        let hash = run_blocking(move || password::hash(&new))
            .await
            .map_err(|e| internal(&e))?;
        let (name, entry) = (who.username.clone(), record.ok());
        self.store
            .write(move |tx| {
                users::set_password(tx, &name, &hash)?;
                users::end_access(tx, &name)?;
                audit::record(tx, &entry)
            })
            .await
            .map_err(store_err)?;
        // end_access removed this session's record too: saved again under
        // a new id, it keeps this tab signed in and nothing else.
        if let Some(session) = &ctx.session {
            session
                .cycle_id()
                .await
                .map_err(super::errors::session_err)?;
        }
        Ok(())
    }
}
