//! The gateway's errors: each becomes a page of its own (never a browser's
//! error page), linking back to the portal.

use app::model::InstanceState;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the appliance is not set up yet")]
    NotSetUp,
    #[error("no application has this address")]
    Gone,
    #[error("not an application's address")]
    NotAnApplication,
    #[error("you may not open this application")]
    Forbidden { instance_id: i64 },
    #[error("this sign-in link has expired or was used")]
    TicketRefused { instance_id: i64 },
    #[error("the application is not running")]
    NotRunning {
        instance_id: i64,
        state: InstanceState,
    },
    #[error("the application does not answer")]
    Unreachable {
        instance_id: i64,
        #[source]
        source: super::upstream::UpstreamError,
    },
    #[error("the application's address leads back to the appliance")]
    Loop { instance_id: i64 },
    #[error("the application took too long to answer")]
    Timeout { instance_id: i64 },
    #[error("the store failed")]
    Store(#[from] crate::store::StoreError),
    #[error("the account could not be read")]
    Account(#[source] app::error::AppError),
}
