//! Who may do what. Every server function and REST handler asks here first,
//! then makes one call to the service.

use crate::error::AppError;
use crate::model::{Principal, Role};

/// Things a signed-in account can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ViewDashboard,
    ViewSelf,
    /// Create, list and revoke one's own API tokens.
    ManageOwnTokens,
    /// Probe a libvirt host after setup.
    ProbeHost,
    ManageHosts,
    /// Configure the network zones (the outside bridge and its pool).
    ManageNetworks,
    ManageUsers,
    /// Deploy a new instance.
    Deploy,
    /// See and act on instances; which ones is decided by [`may_use`].
    UseInstances,
}

/// Allows `action` to `principal`, or says why not.
pub fn authorize(principal: Option<&Principal>, action: Action) -> Result<&Principal, AppError> {
    let principal = principal.ok_or(AppError::Unauthenticated)?;
    let allowed = match action {
        Action::ViewDashboard
        | Action::ViewSelf
        | Action::ManageOwnTokens
        | Action::Deploy
        | Action::UseInstances => true,
        Action::ProbeHost | Action::ManageHosts | Action::ManageNetworks | Action::ManageUsers => {
            principal.role == Role::Admin
        }
    };
    if allowed {
        Ok(principal)
    } else {
        Err(AppError::Forbidden)
    }
}

/// Whether `principal` may see and act on something owned by `owner_id`:
/// their own things, or anything for an admin.
pub fn may_use(principal: &Principal, owner_id: i64) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::User => principal.user_id == owner_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role) -> Principal {
        Principal {
            user_id: 1,
            username: "ann".into(),
            role,
        }
    }

    #[test]
    fn anonymous_is_unauthenticated_for_every_action() {
        for action in [
            Action::ViewDashboard,
            Action::ViewSelf,
            Action::ManageOwnTokens,
            Action::ProbeHost,
            Action::ManageHosts,
            Action::ManageNetworks,
            Action::ManageUsers,
            Action::Deploy,
            Action::UseInstances,
        ] {
            assert_eq!(authorize(None, action), Err(AppError::Unauthenticated));
        }
    }

    #[test]
    fn users_cannot_manage_hosts_or_users() {
        let user = who(Role::User);
        assert!(authorize(Some(&user), Action::ManageOwnTokens).is_ok());
        assert_eq!(
            authorize(Some(&user), Action::ManageHosts),
            Err(AppError::Forbidden)
        );
        assert_eq!(
            authorize(Some(&user), Action::ManageUsers),
            Err(AppError::Forbidden)
        );
        assert_eq!(
            authorize(Some(&user), Action::ProbeHost),
            Err(AppError::Forbidden)
        );
        assert_eq!(
            authorize(Some(&user), Action::ManageNetworks),
            Err(AppError::Forbidden)
        );
        let admin = who(Role::Admin);
        assert!(authorize(Some(&admin), Action::ManageHosts).is_ok());
    }
}
