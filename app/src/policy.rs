//! Who may do what, as types.
//!
//! Each [`Action`] has a marker type in [`rights`] (`rights::Deploy`, ...).
//! [`authorize`] checks the rule table below for the signed-in principal
//! and hands back an [`Authorized`] proof for that one right; its fields
//! are private, so `authorize` is the only way to get one. Every method of
//! the capability traits ([`crate::service`]) that needs an authorized
//! caller takes the proof for its right instead of a bare `&Principal`, so
//! a server function or REST handler that forgets to authorize, or asks
//! for the wrong right, does not compile. The service then asks
//! [`may_use`] and [`may_manage`] about the objects it loads.
//!
//! ```
//! use app::error::AppError;
//! use app::model::{Principal, Role, TokenScope};
//! use app::policy::{Authorized, authorize, rights};
//!
//! // Stands for a service method that deploys.
//! fn deploy(who: Authorized<'_, rights::Deploy>) -> String {
//!     format!("{} deploys", who.username)
//! }
//!
//! let ann = Principal {
//!     user_id: 1,
//!     username: "ann".into(),
//!     role: Role::User,
//!     department_id: None,
//!     managed_departments: Vec::new(),
//!     may_deploy: true,
//!     address: None,
//!     scope: TokenScope::Full,
//! };
//! let who = authorize::<rights::Deploy>(Some(&ann))?;
//! assert_eq!(deploy(who), "ann deploys");
//! // Withdrawn, the right is refused before any service is reached.
//! let withdrawn = Principal { may_deploy: false, ..ann };
//! assert!(matches!(
//!     authorize::<rights::Deploy>(Some(&withdrawn)),
//!     Err(AppError::Forbidden)
//! ));
//! # Ok::<(), AppError>(())
//! ```
//!
//! A proof cannot be made by hand (its fields are private)... (Each
//! `compile_fail` names the error it fails with; stable rustdoc does not
//! check that, so the example above shares its setup.)
//!
//! ```compile_fail,E0451
//! use std::marker::PhantomData;
//! use app::model::{Principal, Role, TokenScope};
//! use app::policy::{Authorized, rights};
//!
//! fn deploy(who: Authorized<'_, rights::Deploy>) -> String {
//!     format!("{} deploys", who.username)
//! }
//!
//! let ann = Principal {
//!     user_id: 1,
//!     username: "ann".into(),
//!     role: Role::User,
//!     department_id: None,
//!     managed_departments: Vec::new(),
//!     may_deploy: false,
//!     address: None,
//!     scope: TokenScope::Full,
//! };
//! deploy(Authorized { principal: &ann, right: PhantomData });
//! ```
//!
//! ...nor stand for another right:
//!
//! ```compile_fail,E0308
//! use app::error::AppError;
//! use app::model::{Principal, Role, TokenScope};
//! use app::policy::{Authorized, authorize, rights};
//!
//! fn deploy(who: Authorized<'_, rights::Deploy>) -> String {
//!     format!("{} deploys", who.username)
//! }
//!
//! let ann = Principal {
//!     user_id: 1,
//!     username: "ann".into(),
//!     role: Role::User,
//!     department_id: None,
//!     managed_departments: Vec::new(),
//!     may_deploy: false,
//!     address: None,
//!     scope: TokenScope::Full,
//! };
//! let who = authorize::<rights::UseInstances>(Some(&ann))?;
//! deploy(who);
//! # Ok::<(), AppError>(())
//! ```

use std::marker::PhantomData;

use crate::error::AppError;
use crate::model::{
    ApprovalPolicy, ApprovalRule, DAY, LeasePolicy, Principal, Role, Share, TokenScope,
};

/// Things a signed-in account can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ViewDashboard,
    ViewSelf,
    /// Create, list and revoke one's own API tokens.
    ManageOwnTokens,
    /// Enrol and remove one's own second factors (authenticator app,
    /// recovery codes).
    ManageOwnSecondFactors,
    /// Lift an account's second-factor lock, or reset its second factors;
    /// whose is decided by [`may_manage`] (department admins: local
    /// accounts of their subtree).
    ResetSecondFactors,
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
    /// Change an instance's size (memory, vCPUs, a larger disk); which
    /// ones is decided by [`may_use`] (owners, and those who manage their
    /// department), and how far by the quotas.
    ResizeInstances,
    /// The appliance-wide department settings: the quota of accounts in
    /// no department, and which departments' policies an admin sets.
    ManageDepartments,
    /// Create, rename and remove departments; where is decided by
    /// [`may_create_department`] and [`may_change_department`] (department
    /// admins: below their own).
    ManageSubDepartments,
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
    /// See the stack's versions, register new ones and make one current.
    ManageStackVersions,
    /// See the backup store and every backup; set the default backup
    /// policy.
    ManageBackups,
    /// Extend an instance's lease; which ones, and how far, is decided by
    /// [`lease_extension`].
    ExtendLease,
    /// Set up notifications: the mail server, webhooks, matchers; see
    /// what was delivered and what failed.
    ManageNotifications,
    /// Choose one's own mail address and which notices one gets by mail.
    ManageOwnNotifications,
    /// Ask for a deploy: it starts at once, waits for approval, or is
    /// refused, as [`deploy_path`] says.
    RequestDeploy,
    /// See one's own deploy requests and those one may decide.
    ViewApprovals,
    /// Approve or reject deploy requests; which ones is decided by
    /// [`may_decide`].
    DecideApprovals,
    /// Read `/metrics`: every instance's and host's figures, so admins
    /// only; the one action a metrics-scoped token is allowed.
    ReadMetrics,
}

/// Whether the rule table allows `action` to `principal`.
fn allows(principal: &Principal, action: Action) -> bool {
    let admin = principal.role == Role::Admin;
    match action {
        Action::ViewDashboard
        | Action::ViewSelf
        | Action::ManageOwnTokens
        | Action::ManageOwnSecondFactors
        | Action::UseInstances
        | Action::ResizeInstances
        | Action::ExtendLease
        | Action::ManageOwnNotifications
        | Action::RequestDeploy
        | Action::ViewApprovals => true,
        Action::Deploy => admin || principal.may_deploy,
        Action::ProbeHost
        | Action::ManageHosts
        | Action::ManageNetworks
        | Action::ManageUsers
        | Action::ManageDepartments
        | Action::ManageDirectory
        | Action::ConfigureGateway
        | Action::ManagePool
        | Action::ManageStackVersions
        | Action::ManageBackups
        | Action::ManageNotifications
        | Action::ReadMetrics => admin,
        Action::ManageMembers
        | Action::ManageSubDepartments
        | Action::ViewAudit
        | Action::ResetSecondFactors
        | Action::DecideApprovals => admin || principal.role == Role::DepartmentAdmin,
    }
}

/// Whether the credential's scope reaches `action` at all, whoever holds it.
fn in_scope(scope: TokenScope, action: Action) -> bool {
    match scope {
        TokenScope::Full => true,
        TokenScope::Metrics => action == Action::ReadMetrics,
    }
}

/// Allows the right `R` to `principal` and proves it, or says why not:
/// `Unauthenticated` when nobody is signed in, `MetricsOnly` for a
/// metrics token used for anything else, `Forbidden` otherwise.
pub fn authorize<R: Right>(principal: Option<&Principal>) -> Result<Authorized<'_, R>, AppError> {
    let principal = principal.ok_or(AppError::Unauthenticated)?;
    if !in_scope(principal.scope, R::ACTION) {
        Err(AppError::MetricsOnly)
    } else if allows(principal, R::ACTION) {
        Ok(Authorized {
            principal,
            right: PhantomData,
        })
    } else {
        Err(AppError::Forbidden)
    }
}

/// A right: the marker type of one [`Action`]. Sealed, so that the rights
/// are exactly those of [`rights`].
pub trait Right: sealed::Sealed + Send + Sync + 'static {
    const ACTION: Action;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! rights {
    ($($right:ident),* $(,)?) => {
        /// One marker type per [`Action`], named as it is.
        pub mod rights {
            use super::{Action, Right, sealed::Sealed};
            $(
                #[doc = concat!("The right of [`Action::", stringify!($right), "`].")]
                #[derive(Clone, Copy, Debug)]
                pub struct $right;
                impl Sealed for $right {}
                impl Right for $right {
                    const ACTION: Action = Action::$right;
                }
            )*
        }

        /// [`authorize`] by the value of an action, for the table's tests.
        /// Exhaustive, so an action without its right does not compile.
        #[cfg(test)]
        fn authorize_action(
            principal: Option<&Principal>,
            action: Action,
        ) -> Result<&Principal, AppError> {
            match action {
                $(Action::$right => {
                    authorize::<rights::$right>(principal).map(|who| who.principal())
                })*
            }
        }
    };
}

rights!(
    ViewDashboard,
    ViewSelf,
    ManageOwnTokens,
    ManageOwnSecondFactors,
    ResetSecondFactors,
    ProbeHost,
    ManageHosts,
    ManageNetworks,
    ManageUsers,
    Deploy,
    UseInstances,
    ResizeInstances,
    ManageDepartments,
    ManageSubDepartments,
    ManageMembers,
    ViewAudit,
    ManageDirectory,
    ConfigureGateway,
    ManagePool,
    ManageStackVersions,
    ManageBackups,
    ExtendLease,
    ManageNotifications,
    ManageOwnNotifications,
    RequestDeploy,
    ViewApprovals,
    DecideApprovals,
    ReadMetrics,
);

/// Proof that [`authorize`] allowed the right `R` to this principal, for
/// this request: what the service methods that need a caller take.
/// Its fields are private so that [`authorize`] alone makes one.
pub struct Authorized<'a, R: Right> {
    principal: &'a Principal,
    right: PhantomData<R>,
}

impl<'a, R: Right> Authorized<'a, R> {
    /// The principal the right was allowed to.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }
}

// By hand: a derive would bound `R: Clone`, which a proof needs not.
impl<R: Right> Clone for Authorized<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: Right> Copy for Authorized<'_, R> {}

impl<R: Right> std::ops::Deref for Authorized<'_, R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        self.principal
    }
}

impl<R: Right> std::fmt::Debug for Authorized<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorized")
            .field("principal", &self.principal.username)
            .field("action", &R::ACTION)
            .finish()
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

/// Whether `principal` may create a department inside `parent` (`None`:
/// at the top level): appliance admins anywhere, department admins inside
/// the departments they administer.
pub fn may_create_department(principal: &Principal, parent: Option<i64>) -> bool {
    match (principal.role, parent) {
        (Role::Admin, _) => true,
        (Role::DepartmentAdmin, Some(_)) => may_manage(principal, parent),
        (Role::DepartmentAdmin, None) | (Role::User, _) => false,
    }
}

/// Whether `principal` may rename or remove `department`, or set its
/// quota: appliance admins any, department admins those below their own
/// (their own is shaped from above, as their own rights are).
pub fn may_change_department(principal: &Principal, department: i64) -> bool {
    match principal.role {
        Role::Admin => true,
        Role::DepartmentAdmin => {
            principal.department_id != Some(department) && may_manage(principal, Some(department))
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

/// Whether `principal` may set the lease of an instance owned by
/// `owner_id` and charged to `department` (which follows `policy`) to end
/// at `wanted` (unix seconds), `now` being now: appliance admins to any
/// future date; the owner and the department's admins as far as the
/// policy lets them; nobody else (`NotFound`: the instance is not theirs
/// to see).
pub fn lease_extension(
    principal: &Principal,
    owner_id: i64,
    department: Option<i64>,
    policy: &LeasePolicy,
    now: i64,
    wanted: i64,
) -> Result<(), AppError> {
    if !may_use(principal, owner_id, department) {
        return Err(AppError::NotFound("instance".into()));
    }
    if wanted <= now {
        return Err(AppError::invalid("expires_at", "must be in the future"));
    }
    match principal.role {
        Role::Admin => Ok(()),
        Role::DepartmentAdmin | Role::User => {
            if !policy.extendable {
                return Err(AppError::Forbidden);
            }
            if wanted > now + i64::from(policy.max_days) * DAY {
                return Err(AppError::invalid(
                    "expires_at",
                    format!(
                        "may be at most {} days from now; an appliance admin can set a later date",
                        policy.max_days
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// What becomes of a deploy asked for by `principal` under `policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployPath {
    /// It starts at once.
    Direct,
    /// It waits for a department admin's (or an appliance admin's) yes.
    NeedsApproval,
    /// The principal may neither deploy nor request one.
    Refused,
}

/// Which way a deploy of `vcpus` and `memory_mib` goes for `principal`,
/// under the approval policy of their department. Appliance admins always
/// deploy at once (nobody is above them to approve); members without the
/// right to deploy may request one wherever the policy asks for approvals.
pub fn deploy_path(
    principal: &Principal,
    policy: &ApprovalPolicy,
    vcpus: u32,
    memory_mib: u64,
) -> DeployPath {
    let may_deploy = match principal.role {
        Role::Admin => return DeployPath::Direct,
        Role::DepartmentAdmin | Role::User => principal.may_deploy,
    };
    let above = vcpus > policy.max_vcpus || memory_mib > policy.max_memory_mib;
    match (policy.require, may_deploy) {
        (ApprovalRule::Never, true) => DeployPath::Direct,
        (ApprovalRule::Never, false) => DeployPath::Refused,
        (ApprovalRule::EveryDeploy, _) => DeployPath::NeedsApproval,
        (ApprovalRule::AboveSize, true) if !above => DeployPath::Direct,
        (ApprovalRule::AboveSize, _) => DeployPath::NeedsApproval,
        (ApprovalRule::WithoutDeployRight, true) => DeployPath::Direct,
        (ApprovalRule::WithoutDeployRight, false) => DeployPath::NeedsApproval,
    }
}

/// Whether `principal` may decide a request by `requester_id` charged to
/// `department`: appliance admins and the admins of that department or one
/// above it, never the requester themselves (`OwnRequest`, even an admin);
/// others do not see it (`NotFound`).
pub fn may_decide(
    principal: &Principal,
    requester_id: i64,
    department: Option<i64>,
) -> Result<(), AppError> {
    if !may_manage(principal, department) {
        return Err(AppError::NotFound("approval".into()));
    }
    if principal.user_id == requester_id {
        return Err(AppError::OwnRequest);
    }
    Ok(())
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
            scope: TokenScope::Full,
        }
    }

    const EVERY_ACTION: [Action; 28] = [
        Action::ViewDashboard,
        Action::ViewSelf,
        Action::ManageOwnTokens,
        Action::ManageOwnSecondFactors,
        Action::ResetSecondFactors,
        Action::ProbeHost,
        Action::ManageHosts,
        Action::ManageNetworks,
        Action::ManageUsers,
        Action::Deploy,
        Action::UseInstances,
        Action::ResizeInstances,
        Action::ManageDepartments,
        Action::ManageSubDepartments,
        Action::ManageMembers,
        Action::ViewAudit,
        Action::ManageDirectory,
        Action::ConfigureGateway,
        Action::ManagePool,
        Action::ManageStackVersions,
        Action::ManageBackups,
        Action::ExtendLease,
        Action::ManageNotifications,
        Action::ManageOwnNotifications,
        Action::RequestDeploy,
        Action::ViewApprovals,
        Action::DecideApprovals,
        Action::ReadMetrics,
    ];

    #[test]
    fn a_metrics_token_reaches_only_the_metrics_and_says_so() {
        let scoped = Principal {
            scope: TokenScope::Metrics,
            ..who(Role::Admin)
        };
        for action in EVERY_ACTION {
            let expected = if action == Action::ReadMetrics {
                Ok(&scoped)
            } else {
                Err(AppError::MetricsOnly)
            };
            assert_eq!(
                authorize_action(Some(&scoped), action),
                expected,
                "{action:?}"
            );
        }
    }

    #[test]
    fn anonymous_is_unauthenticated_for_every_action() {
        for action in EVERY_ACTION {
            assert_eq!(
                authorize_action(None, action),
                Err(AppError::Unauthenticated)
            );
        }
    }

    #[test]
    fn each_role_gets_exactly_its_actions() {
        let allowed = |p: &Principal| {
            EVERY_ACTION
                .into_iter()
                .filter(|a| authorize_action(Some(p), *a).is_ok())
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
                ManageOwnSecondFactors,
                ResetSecondFactors,
                Deploy,
                UseInstances,
                ResizeInstances,
                ManageSubDepartments,
                ManageMembers,
                ViewAudit,
                ExtendLease,
                ManageOwnNotifications,
                RequestDeploy,
                ViewApprovals,
                DecideApprovals
            ]
        );
        assert_eq!(
            allowed(&who(Role::User)),
            vec![
                ViewDashboard,
                ViewSelf,
                ManageOwnTokens,
                ManageOwnSecondFactors,
                Deploy,
                UseInstances,
                ResizeInstances,
                ExtendLease,
                ManageOwnNotifications,
                RequestDeploy,
                ViewApprovals
            ]
        );
        let withdrawn = Principal {
            may_deploy: false,
            ..who(Role::User)
        };
        assert_eq!(
            authorize_action(Some(&withdrawn), Deploy),
            Err(AppError::Forbidden)
        );
    }

    #[test]
    fn department_admins_shape_departments_only_below_their_own() {
        // `who` is in department 10 and administers 10 and 11 (below it).
        let dept_admin = who(Role::DepartmentAdmin);
        assert!(may_create_department(&dept_admin, Some(10)));
        assert!(may_create_department(&dept_admin, Some(11)));
        assert!(!may_create_department(&dept_admin, Some(12)));
        assert!(!may_create_department(&dept_admin, None));
        assert!(may_change_department(&dept_admin, 11));
        assert!(!may_change_department(&dept_admin, 10), "their own");
        assert!(!may_change_department(&dept_admin, 12), "elsewhere");
        let admin = who(Role::Admin);
        assert!(may_create_department(&admin, None));
        assert!(may_change_department(&admin, 10));
        let user = who(Role::User);
        assert!(!may_create_department(&user, Some(10)));
        assert!(!may_change_department(&user, 10));
    }

    #[test]
    fn a_proof_carries_the_principal_it_was_allowed_to() {
        let admin = who(Role::Admin);
        let proof = authorize::<rights::ManageHosts>(Some(&admin)).expect("admins manage hosts");
        let copy = proof;
        assert!(std::ptr::eq(proof.principal(), &admin));
        assert_eq!(copy.username, "ann", "it reads as the principal");
        assert_eq!(
            format!("{proof:?}"),
            r#"Authorized { principal: "ann", action: ManageHosts }"#
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

    #[test]
    fn lease_extensions_follow_the_role_and_the_policy() {
        // An instance owned by account 2, charged to department 10, under a
        // policy that lets its people extend up to 30 days ahead.
        let policy = LeasePolicy {
            lease_days: Some(14),
            extendable: true,
            max_days: 30,
            grace_days: 7,
            follow_use_days: 0,
        };
        let frozen = LeasePolicy {
            extendable: false,
            ..policy
        };
        let now = 1_000_000;
        let within = now + 20 * DAY;
        let beyond = now + 31 * DAY;
        let past = now - 1;
        let owner = Principal {
            user_id: 2,
            ..who(Role::User)
        };
        let colleague = who(Role::User); // account 1, department 10
        let dept_admin = who(Role::DepartmentAdmin); // departments 10 and 11
        let other_dept_admin = Principal {
            managed_departments: vec![12],
            ..who(Role::DepartmentAdmin)
        };
        let admin = who(Role::Admin);
        let extend = |p: &Principal, policy: &LeasePolicy, wanted| {
            lease_extension(p, 2, Some(10), policy, now, wanted).map_err(|e| match e {
                AppError::Invalid { .. } => "invalid",
                AppError::Forbidden => "forbidden",
                AppError::NotFound(_) => "not found",
                _ => "other",
            })
        };
        // (who, policy, wanted, answer): one row per role and limit.
        type Row<'a> = (
            &'a str,
            &'a Principal,
            &'a LeasePolicy,
            i64,
            Result<(), &'a str>,
        );
        let rows: [Row<'_>; 14] = [
            ("owner within", &owner, &policy, within, Ok(())),
            ("owner beyond", &owner, &policy, beyond, Err("invalid")),
            ("owner frozen", &owner, &frozen, within, Err("forbidden")),
            ("owner past", &owner, &policy, past, Err("invalid")),
            ("dept admin within", &dept_admin, &policy, within, Ok(())),
            (
                "dept admin beyond",
                &dept_admin,
                &policy,
                beyond,
                Err("invalid"),
            ),
            (
                "dept admin frozen",
                &dept_admin,
                &frozen,
                within,
                Err("forbidden"),
            ),
            (
                "other dept admin",
                &other_dept_admin,
                &policy,
                within,
                Err("not found"),
            ),
            ("colleague", &colleague, &policy, within, Err("not found")),
            ("admin within", &admin, &policy, within, Ok(())),
            ("admin beyond", &admin, &policy, beyond, Ok(())),
            (
                "admin far beyond",
                &admin,
                &policy,
                now + 3_000 * DAY,
                Ok(()),
            ),
            ("admin frozen", &admin, &frozen, beyond, Ok(())),
            ("admin past", &admin, &policy, past, Err("invalid")),
        ];
        for (name, p, policy, wanted, answer) in rows {
            assert_eq!(extend(p, policy, wanted), answer, "{name}");
        }
    }

    #[test]
    fn a_deploy_waits_for_approval_as_the_policy_and_the_right_to_deploy_say() {
        use DeployPath::{Direct, NeedsApproval, Refused};
        let policy = |require| ApprovalPolicy {
            require,
            max_vcpus: 2,
            max_memory_mib: 2048,
            timeout_days: 7,
        };
        let member = who(Role::User);
        let without = Principal {
            may_deploy: false,
            ..who(Role::User)
        };
        let dept_admin = who(Role::DepartmentAdmin);
        let admin = who(Role::Admin);
        // (who, rule, vCPUs, MiB, path): every rule for each kind of caller.
        let rows: [(&str, &Principal, ApprovalRule, u32, u64, DeployPath); 16] = [
            (
                "member, never",
                &member,
                ApprovalRule::Never,
                8,
                8192,
                Direct,
            ),
            (
                "without, never",
                &without,
                ApprovalRule::Never,
                1,
                512,
                Refused,
            ),
            (
                "member, every",
                &member,
                ApprovalRule::EveryDeploy,
                1,
                512,
                NeedsApproval,
            ),
            (
                "without, every",
                &without,
                ApprovalRule::EveryDeploy,
                1,
                512,
                NeedsApproval,
            ),
            (
                "dept admin, every",
                &dept_admin,
                ApprovalRule::EveryDeploy,
                1,
                512,
                NeedsApproval,
            ),
            (
                "admin, every",
                &admin,
                ApprovalRule::EveryDeploy,
                8,
                8192,
                Direct,
            ),
            (
                "member, small",
                &member,
                ApprovalRule::AboveSize,
                2,
                2048,
                Direct,
            ),
            (
                "member, more vCPUs",
                &member,
                ApprovalRule::AboveSize,
                3,
                512,
                NeedsApproval,
            ),
            (
                "member, more memory",
                &member,
                ApprovalRule::AboveSize,
                1,
                2049,
                NeedsApproval,
            ),
            (
                "without, small",
                &without,
                ApprovalRule::AboveSize,
                1,
                512,
                NeedsApproval,
            ),
            (
                "member, right",
                &member,
                ApprovalRule::WithoutDeployRight,
                8,
                8192,
                Direct,
            ),
            (
                "without, right",
                &without,
                ApprovalRule::WithoutDeployRight,
                1,
                512,
                NeedsApproval,
            ),
            (
                "dept admin, right",
                &dept_admin,
                ApprovalRule::WithoutDeployRight,
                8,
                8192,
                Direct,
            ),
            ("admin, never", &admin, ApprovalRule::Never, 8, 8192, Direct),
            (
                "admin, above",
                &admin,
                ApprovalRule::AboveSize,
                8,
                8192,
                Direct,
            ),
            (
                "admin, right",
                &admin,
                ApprovalRule::WithoutDeployRight,
                8,
                8192,
                Direct,
            ),
        ];
        for (name, p, rule, vcpus, memory, path) in rows {
            assert_eq!(deploy_path(p, &policy(rule), vcpus, memory), path, "{name}");
        }
    }

    #[test]
    fn requests_are_decided_by_admins_of_their_department_or_above_but_never_by_the_requester() {
        // A request by account 2, charged to department 11 (below 10).
        let dept_admin = who(Role::DepartmentAdmin); // account 1, departments 10 and 11
        let other_dept_admin = Principal {
            managed_departments: vec![12],
            ..who(Role::DepartmentAdmin)
        };
        let member = who(Role::User);
        let admin = who(Role::Admin);
        let requesting_admin = Principal {
            user_id: 2,
            ..who(Role::Admin)
        };
        let requesting_dept_admin = Principal {
            user_id: 2,
            ..who(Role::DepartmentAdmin)
        };
        let decide = |p: &Principal, department| may_decide(p, 2, department).map_err(|e| e.code());
        assert_eq!(decide(&dept_admin, Some(11)), Ok(()));
        assert_eq!(decide(&dept_admin, Some(10)), Ok(()));
        assert_eq!(decide(&dept_admin, None), Err("not_found"));
        assert_eq!(decide(&other_dept_admin, Some(11)), Err("not_found"));
        assert_eq!(decide(&member, Some(11)), Err("not_found"));
        assert_eq!(decide(&admin, Some(11)), Ok(()));
        assert_eq!(decide(&admin, None), Ok(()));
        assert_eq!(decide(&requesting_admin, Some(11)), Err("own_request"));
        assert_eq!(decide(&requesting_dept_admin, Some(11)), Err("own_request"));
    }
}
