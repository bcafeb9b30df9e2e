//! One module a page.

mod account;
mod approval_policy;
mod approvals;
mod audit;
mod backups;
mod console;
mod dashboard;
mod department;
mod department_usage;
mod departments;
mod deploy;
mod directory;
mod graphics;
mod host_usage;
mod hosts;
mod instance;
mod instances;
mod lazy;
mod lease;
mod lease_policy;
mod login;
mod mail_preferences;
mod move_host;
mod networks;
mod not_found;
mod notifications;
mod passkeys;
mod resize;
mod second_factor_policy;
mod settings;
mod setup;
mod snapshots;
mod tokens;
mod usage;
mod versions;

pub use account::AccountPage;
pub use approvals::ApprovalsPage;
pub use audit::AuditPage;
pub use backups::BackupsPage;
pub use console::ConsolePage;
pub use dashboard::DashboardPage;
pub use department::DepartmentPage;
pub use departments::DepartmentsPage;
pub use deploy::DeployPage;
pub use directory::DirectoryPage;
pub use graphics::GraphicsPage;
pub use hosts::HostsPage;
pub use instance::InstancePage;
pub use instances::InstancesPage;
pub use lazy::{
    AccountRoute, ApprovalsRoute, AppsSettingsRoute, AuditRoute, BackupsRoute, ConsoleRoute,
    DepartmentRoute, DepartmentsRoute, DeployRoute, DirectoryRoute, GraphicsRoute, HostsRoute,
    InstanceRoute, InstancesRoute, NetworksRoute, NotificationsRoute, SetupRoute, TokensRoute,
    VersionsRoute,
};
pub use login::LoginPage;
pub use networks::NetworksPage;
pub use not_found::NotFoundPage;
pub use notifications::NotificationsPage;
pub use settings::AppsSettingsPage;
pub use setup::SetupPage;
pub use tokens::TokensPage;
pub use versions::VersionsPage;
