//! Who may do what. Every server function and REST handler asks here first,
//! then makes one call to the service; the service asks [`may_use`] and
//! [`may_manage`] about the objects it loads.

use crate::error::AppError;
use crate::model::{Principal, Role, Share};

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
    /// Create, rename and remove departments; appoint their admins.
    ManageDepartments,
    /// See departments and their members, add members, grant the right to
    /// deploy, set quotas; which ones is decided by [`may_manage`].
    ManageMembers,
    /// Read the audit log (department admins: their departments' part).
    ViewAudit,
    /// Configure directory (LDAP) sign-in.
    ManageDirectory,
    /// Choose where applications open (the gateway's addressing).
    ConfigureGateway,
    /// See and size the warm pool (guests booted ahead of time).
    ManagePool,
}

/// Allows `action` to `principal`, or says why not.
pub fn authorize(principal: Option<&Principal>, action: Action) -> Result<&Principal, AppError> {
    let principal = principal.ok_or(AppError::Unauthenticated)?;
    let admin = principal.role == Role::Admin;
    let allowed = match action {
        Action::ViewDashboard
        | Action::ViewSelf
        | Action::ManageOwnTokens
        | Action::UseInstances => true,
        Action::Deploy => admin || principal.may_deploy,
        Action::ProbeHost
        | Action::ManageHosts
        | Action::ManageNetworks
        | Action::ManageUsers
        | Action::ManageDepartments
        | Action::ManageDirectory
        | Action::ConfigureGateway
        | Action::ManagePool => admin,
        Action::ManageMembers | Action::ViewAudit => {
            admin || principal.role == Role::DepartmentAdmin
        }
    };
    if allowed {
        Ok(principal)
    } else {
        Err(AppError::Forbidden)
    }
}

/// Whether `principal` administers `department` (and so its members,
/// instances and sub-departments): appliance admins everything,
/// department admins their own department and all below it.
pub fn may_manage(principal: &Principal, department: Option<i64>) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::DepartmentAdmin => {
            department.is_some_and(|d| principal.managed_departments.contains(&d))
        }
        Role::User => false,
    }
}

/// Whether `principal` may see and act on an instance owned by `owner_id`
/// and charged to `department`: their own, those of the departments they
/// administer, or anything for an appliance admin.
pub fn may_use(principal: &Principal, owner_id: i64, department: Option<i64>) -> bool {
    principal.user_id == owner_id || may_manage(principal, department)
}

/// Whether `visitor` (None: not signed in) may open the application of an
/// instance owned by `owner_id`, charged to `department` and shared as
/// `share`: whoever may use the instance always, others as it is shared.
pub fn may_open(
    visitor: Option<&Principal>,
    share: Share,
    owner_id: i64,
    department: Option<i64>,
) -> bool {
    match (share, visitor) {
        (Share::Public, _) => true,
        (Share::Owner | Share::Department | Share::SignedIn, None) => false,
        (Share::SignedIn, Some(_)) => true,
        (Share::Department, Some(p)) => {
            may_use(p, owner_id, department)
                || (department.is_some() && p.department_id == department)
        }
        (Share::Owner, Some(p)) => may_use(p, owner_id, department),
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
            department_id: Some(10),
            managed_departments: match role {
                Role::DepartmentAdmin => vec![10, 11],
                Role::Admin | Role::User => Vec::new(),
            },
            may_deploy: true,
            address: None,
        }
    }

    const EVERY_ACTION: [Action; 15] = [
        Action::ViewDashboard,
        Action::ViewSelf,
        Action::ManageOwnTokens,
        Action::ProbeHost,
        Action::ManageHosts,
        Action::ManageNetworks,
        Action::ManageUsers,
        Action::Deploy,
        Action::UseInstances,
        Action::ManageDepartments,
        Action::ManageMembers,
        Action::ViewAudit,
        Action::ManageDirectory,
        Action::ConfigureGateway,
        Action::ManagePool,
    ];

    #[test]
    fn anonymous_is_unauthenticated_for_every_action() {
        for action in EVERY_ACTION {
            assert_eq!(authorize(None, action), Err(AppError::Unauthenticated));
        }
    }

    #[test]
    fn each_role_gets_exactly_its_actions() {
        let allowed = |p: &Principal| {
            EVERY_ACTION
                .into_iter()
                .filter(|a| authorize(Some(p), *a).is_ok())
                .collect::<Vec<_>>()
        };
        assert_eq!(allowed(&who(Role::Admin)), EVERY_ACTION.to_vec());
        use Action::*;
        assert_eq!(
            allowed(&who(Role::DepartmentAdmin)),
            vec![
                ViewDashboard,
                ViewSelf,
                ManageOwnTokens,
                Deploy,
                UseInstances,
                ManageMembers,
                ViewAudit
            ]
        );
        assert_eq!(
            allowed(&who(Role::User)),
            vec![
                ViewDashboard,
                ViewSelf,
                ManageOwnTokens,
                Deploy,
                UseInstances
            ]
        );
        let withdrawn = Principal {
            may_deploy: false,
            ..who(Role::User)
        };
        assert_eq!(
            authorize(Some(&withdrawn), Deploy),
            Err(AppError::Forbidden)
        );
    }

    #[test]
    fn department_admins_manage_their_subtree_only() {
        let dept_admin = who(Role::DepartmentAdmin);
        assert!(may_manage(&dept_admin, Some(11)));
        assert!(!may_manage(&dept_admin, Some(12)));
        assert!(!may_manage(&dept_admin, None));
        assert!(may_use(&dept_admin, 99, Some(10)));
        assert!(!may_use(&dept_admin, 99, Some(12)));
        let user = who(Role::User);
        assert!(may_use(&user, 1, None));
        assert!(!may_use(&user, 2, Some(10)), "same department, not theirs");
        assert!(may_use(&who(Role::Admin), 2, None));
    }

    #[test]
    fn who_may_open_an_application_follows_its_share() {
        // An instance owned by account 2, charged to department 10.
        let open = |visitor: Option<&Principal>, share| may_open(visitor, share, 2, Some(10));
        let owner = Principal {
            user_id: 2,
            ..who(Role::User)
        };
        let colleague = who(Role::User); // account 1, department 10
        let stranger = Principal {
            department_id: Some(12),
            ..who(Role::User)
        };
        let dept_admin = who(Role::DepartmentAdmin);
        let admin = Principal {
            department_id: None,
            ..who(Role::Admin)
        };
        for share in Share::ALL.iter().copied() {
            assert!(open(Some(&owner), share), "{share}: the owner");
            assert!(
                open(Some(&dept_admin), share),
                "{share}: its department's admin"
            );
            assert!(open(Some(&admin), share), "{share}: an appliance admin");
            let (colleague_may, stranger_may, anyone_may) = match share {
                Share::Owner => (false, false, false),
                Share::Department => (true, false, false),
                Share::SignedIn => (true, true, false),
                Share::Public => (true, true, true),
            };
            assert_eq!(
                open(Some(&colleague), share),
                colleague_may,
                "{share}: a colleague"
            );
            assert_eq!(
                open(Some(&stranger), share),
                stranger_may,
                "{share}: a stranger"
            );
            assert_eq!(open(None, share), anyone_may, "{share}: signed out");
        }
        // Without a department, `department` shares with nobody more.
        assert!(!may_open(Some(&stranger), Share::Department, 2, None));
    }
}
