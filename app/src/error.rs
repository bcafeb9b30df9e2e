//! The one error type that crosses the edge: every message here is safe to
//! show to the person who made the request.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppError {
    /// The request could not be read (malformed JSON, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// No valid session or token.
    #[error("sign in first")]
    Unauthenticated,
    /// One message for an unknown user and a wrong password.
    #[error("unknown user or wrong password")]
    InvalidCredentials,
    /// The password was right; the session waits for a code from the
    /// authenticator app or a recovery code.
    #[error("enter the code from your authenticator app")]
    SecondFactorRequired,
    /// The password was right, and the account must use a second factor
    /// it does not have yet: the session waits for it to enrol one.
    #[error("set up an authenticator app to go on: this account must use one")]
    SecondFactorEnrolmentRequired,
    /// Signed in, but not allowed.
    #[error("you are not allowed to do that")]
    Forbidden,
    /// A token scoped to metrics was used for anything but `/metrics`.
    #[error("this token may only read /metrics: use a full token for the API")]
    MetricsOnly,
    /// An approver tried to decide their own deploy request.
    #[error("you cannot approve or reject your own request: another approver must decide it")]
    OwnRequest,
    /// A state-changing request from another site.
    #[error("cross-site request refused")]
    CrossOrigin,
    #[error("{0} not found")]
    NotFound(String),
    /// The request clashes with the current state (a name taken, setup done).
    #[error("{0}")]
    Conflict(String),
    /// A deploy would break a quota: which one, and by how much.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The appliance has not been set up yet.
    #[error("the appliance is not set up yet: finish the setup wizard first")]
    SetupRequired,
    /// A field failed validation.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("too many attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// A dependency (a libvirt host) could not be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A disk is full: the appliance's data disk (its store) or a host's
    /// storage pool, as `store` says. Nothing was changed.
    #[error("{store} is full: free some space there, then try again; nothing was changed")]
    StorageFull { store: String },
    /// Details are in the server log, never in the response.
    #[error("internal error; the details are in the server log")]
    Internal,
    /// The browser could not reach the server, or could not read its answer.
    #[error("could not reach the appliance: {0}")]
    Transport(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Stable machine-readable code, the `error` field of REST errors.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthenticated => "unauthenticated",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::SecondFactorRequired => "second_factor_required",
            AppError::SecondFactorEnrolmentRequired => "second_factor_enrolment_required",
            AppError::Forbidden => "forbidden",
            AppError::MetricsOnly => "metrics_only",
            AppError::OwnRequest => "own_request",
            AppError::CrossOrigin => "cross_origin",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::QuotaExceeded(_) => "quota_exceeded",
            AppError::SetupRequired => "setup_required",
            AppError::Invalid { .. } => "invalid",
            AppError::Throttled { .. } => "throttled",
            AppError::Unavailable(_) => "unavailable",
            AppError::StorageFull { .. } => "storage_full",
            AppError::Internal => "internal",
            AppError::Transport(_) => "transport",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthenticated
            | AppError::InvalidCredentials
            | AppError::SecondFactorRequired
            | AppError::SecondFactorEnrolmentRequired => 401,
            AppError::Forbidden
            | AppError::MetricsOnly
            | AppError::OwnRequest
            | AppError::CrossOrigin => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) | AppError::QuotaExceeded(_) | AppError::SetupRequired => 409,
            AppError::Invalid { .. } => 422,
            AppError::Throttled { .. } => 429,
            AppError::Internal | AppError::Transport(_) => 500,
            AppError::Unavailable(_) => 503,
            AppError::StorageFull { .. } => 507,
        }
    }

    /// Whether asking again later may succeed: the network, the
    /// appliance or one of its hosts was in trouble, not the request.
    pub fn is_transient(&self) -> bool {
        match self {
            AppError::Transport(_)
            | AppError::Unavailable(_)
            | AppError::Internal
            | AppError::Throttled { .. } => true,
            AppError::BadRequest(_)
            | AppError::Unauthenticated
            | AppError::InvalidCredentials
            | AppError::SecondFactorRequired
            | AppError::SecondFactorEnrolmentRequired
            | AppError::Forbidden
            | AppError::MetricsOnly
            | AppError::OwnRequest
            | AppError::CrossOrigin
            | AppError::NotFound(_)
            | AppError::Conflict(_)
            | AppError::QuotaExceeded(_)
            | AppError::SetupRequired
            | AppError::Invalid { .. }
            // Only once someone frees space.
            | AppError::StorageFull { .. } => false,
        }
    }

    /// The field a validation error is about, for inline form messages.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } => Some(field),
            AppError::BadRequest(_)
            | AppError::Unauthenticated
            | AppError::InvalidCredentials
            | AppError::SecondFactorRequired
            | AppError::SecondFactorEnrolmentRequired
            | AppError::Forbidden
            | AppError::MetricsOnly
            | AppError::OwnRequest
            | AppError::CrossOrigin
            | AppError::NotFound(_)
            | AppError::Conflict(_)
            | AppError::QuotaExceeded(_)
            | AppError::SetupRequired
            | AppError::Throttled { .. }
            | AppError::Unavailable(_)
            | AppError::StorageFull { .. }
            | AppError::Internal
            | AppError::Transport(_) => None,
        }
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(msg) | E::MissingArg(msg) => AppError::BadRequest(msg),
            E::Request(msg) | E::Deserialization(msg) | E::Serialization(msg) => {
                AppError::Transport(msg)
            }
            E::Registration(_)
            | E::UnsupportedRequestMethod(_)
            | E::ServerError(_)
            | E::MiddlewareError(_)
            | E::Response(_) => AppError::Internal,
        }
    }
}
