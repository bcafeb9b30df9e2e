//! One module a page.

mod dashboard;
mod deploy;
mod instance;
mod instances;
mod login;
mod networks;
mod not_found;
mod setup;
mod tokens;

pub use dashboard::DashboardPage;
pub use deploy::DeployPage;
pub use instance::InstancePage;
pub use instances::InstancesPage;
pub use login::LoginPage;
pub use networks::NetworksPage;
pub use not_found::NotFoundPage;
pub use setup::SetupPage;
pub use tokens::TokensPage;
