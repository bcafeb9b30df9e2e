//! REST API v1: JSON over the same service layer as the portal. Every
//! handler gets the proof of its right from `app::policy::authorize` and
//! passes it to its one call, which takes nothing else (the service then
//! checks the object).
//! Errors are `{"error": CODE, "message": TEXT}` with a fitting status.

mod approvals;
mod auth;
mod backups;
mod events;
mod hosts;
mod instances;
mod leases;
mod notifications;
mod openapi;
mod org;
mod passkeys;
mod pool;
mod resize;
mod second_factor;
mod snapshots;
mod system;
mod tokens;
mod usage;
mod versions;
mod zones;

use app::error::AppError;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::HttpState;

/// Declares every route of the API once: `router()` is built from this
/// table, and `ROUTES` lists it, so that a test can hold the OpenAPI
/// document against what is really served (axum cannot list a router's
/// routes). A row is `method "path" => handler`, the path under `/api/v1`.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path,)*) => {
        /// Every `(method, path)` the API serves, the path under `/api/v1`.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path),)*];

        fn routes() -> Router<HttpState> {
            Router::new()$(.route($path, $method($handler)))*
        }
    };
}

routes! {
    get "/health" => system::health,
    post "/setup" => system::setup,
    get "/openapi.json" => openapi::document,
    post "/login" => auth::login,
    post "/logout" => auth::logout,
    get "/me" => auth::me,
    post "/me/password" => auth::change_password,
    post "/login/code" => second_factor::complete_sign_in,
    post "/login/totp" => second_factor::begin_enrolment,
    post "/login/totp/confirm" => second_factor::finish_enrolment,
    get "/settings/second-factor" => second_factor::policy,
    put "/settings/second-factor" => second_factor::set_policy,
    get "/me/second-factor" => second_factor::status,
    post "/me/totp" => second_factor::begin_totp,
    post "/me/totp/confirm" => second_factor::confirm_totp,
    post "/me/totp/remove" => second_factor::remove_totp,
    post "/me/recovery-codes" => second_factor::renew_recovery_codes,
    post "/me/passkeys" => passkeys::begin,
    post "/me/passkeys/finish" => passkeys::finish,
    post "/me/passkeys/confirm" => passkeys::begin_confirmation,
    post "/me/passkeys/confirm/finish" => passkeys::finish_confirmation,
    post "/me/passkeys/{id}/remove" => passkeys::remove,
    post "/login/passkey" => passkeys::begin_sign_in,
    post "/login/passkey/finish" => passkeys::finish_sign_in,
    post "/login/passkey/enrol" => passkeys::begin_enrolment,
    post "/login/passkey/enrol/finish" => passkeys::finish_enrolment,
    post "/users/{id}/second-factor/unlock" => second_factor::unlock,
    post "/users/{id}/second-factor/reset" => second_factor::reset,
    get "/tokens" => tokens::list,
    post "/tokens" => tokens::create,
    delete "/tokens/{id}" => tokens::revoke,
    get "/stack" => instances::stack,
    get "/instances" => instances::list,
    post "/instances" => instances::deploy,
    get "/instances/{id}" => instances::get,
    delete "/instances/{id}" => instances::delete,
    patch "/instances/{id}" => instances::patch,
    get "/settings/apps" => instances::apps_settings,
    put "/settings/apps" => instances::set_apps_settings,
    post "/instances/{id}/start" => instances::start,
    post "/instances/{id}/shutdown" => instances::shutdown,
    post "/instances/{id}/reboot" => instances::reboot,
    post "/instances/{id}/poweroff" => instances::poweroff,
    post "/instances/{id}/extend" => leases::extend,
    get "/instances/{id}/usage" => usage::of_instance,
    get "/departments/{id}/usage" => usage::of_department,
    get "/instances/{id}/snapshots" => snapshots::list,
    post "/instances/{id}/snapshots" => snapshots::take,
    post "/instances/{id}/snapshots/{sid}/revert" => snapshots::revert,
    delete "/instances/{id}/snapshots/{sid}" => snapshots::delete,
    post "/instances/{id}/resize" => resize::resize,
    get "/instances/{id}/backups" => backups::of_instance,
    post "/instances/{id}/backups" => backups::start,
    post "/instances/{id}/restore" => backups::restore_in_place,
    get "/backups" => backups::list,
    post "/backups/{id}/verify" => backups::verify,
    post "/backups/{id}/restore" => backups::restore,
    post "/backups/{id}/drill" => backups::drill,
    get "/backup-store" => backups::store,
    put "/backup-store" => backups::set_store,
    get "/backup-policy" => backups::default_policy,
    put "/backup-policy" => backups::set_default_policy,
    get "/departments/{id}/backup-policy" => backups::department_policy,
    put "/departments/{id}/backup-policy" => backups::set_department_policy,
    delete "/departments/{id}/backup-policy" => backups::clear_department_policy,
    get "/tasks/{id}" => instances::task,
    get "/tasks/{id}/events" => instances::task_events,
    get "/events" => events::events,
    get "/hosts" => hosts::list,
    post "/hosts" => hosts::add,
    get "/hosts/credentials" => hosts::credentials,
    get "/hosts/usage" => usage::of_hosts,
    post "/hosts/server-certificate" => hosts::server_certificate,
    delete "/hosts/{id}" => hosts::remove,
    post "/hosts/{id}/drain" => hosts::drain,
    post "/hosts/{id}/resume" => hosts::resume,
    post "/instances/{id}/move" => hosts::move_instance,
    get "/orphans" => hosts::orphans,
    post "/orphans/adopt" => hosts::adopt_orphan,
    post "/orphans/release" => hosts::release_orphans,
    get "/departments" => org::list_departments,
    post "/departments" => org::create_department,
    patch "/departments/{id}" => org::update_department,
    delete "/departments/{id}" => org::delete_department,
    get "/departments/{id}/lease-policy" => leases::get_policy,
    put "/departments/{id}/lease-policy" => leases::set_policy,
    get "/lease-policy" => leases::get_default_policy,
    put "/lease-policy" => leases::set_default_policy,
    get "/departments/{id}/approval-policy" => approvals::get_policy,
    put "/departments/{id}/approval-policy" => approvals::set_policy,
    get "/approvals" => approvals::list,
    post "/approvals/{id}/approve" => approvals::approve,
    post "/approvals/{id}/reject" => approvals::reject,
    get "/users" => org::list_members,
    post "/users" => org::create_member,
    patch "/users/{id}" => org::update_member,
    get "/audit" => org::audit_log,
    get "/directory" => org::get_directory,
    put "/directory" => org::set_directory,
    post "/directory/test" => org::test_directory,
    get "/quotas" => org::my_quotas,
    get "/quotas/default" => org::get_default_quota,
    put "/quotas/default" => org::set_default_quota,
    get "/zones" => zones::list,
    put "/zones/outside" => zones::set_outside,
    delete "/zones/outside" => zones::clear_outside,
    get "/pool" => pool::get,
    put "/pool" => pool::set,
    get "/stack/versions" => versions::list,
    post "/stack/versions/scan" => versions::scan,
    post "/stack/versions/{id}/current" => versions::make_current,
    get "/notifications/smtp" => notifications::smtp,
    put "/notifications/smtp" => notifications::set_smtp,
    post "/notifications/test" => notifications::test,
    get "/notifications/webhooks" => notifications::webhooks,
    post "/notifications/webhooks" => notifications::create_webhook,
    post "/notifications/webhooks/{id}/rotate" => notifications::rotate_webhook,
    delete "/notifications/webhooks/{id}" => notifications::delete_webhook,
    get "/notifications/matchers" => notifications::matchers,
    post "/notifications/matchers" => notifications::create_matcher,
    put "/notifications/matchers/{id}" => notifications::update_matcher,
    delete "/notifications/matchers/{id}" => notifications::delete_matcher,
    get "/notifications/deliveries" => notifications::deliveries,
    get "/me/notification-preferences" => notifications::preferences,
    put "/me/notification-preferences" => notifications::set_preferences,
}

pub fn router() -> Router<HttpState> {
    routes().fallback(|| async { ApiError(AppError::NotFound("API endpoint".into())) })
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid`, `unauthenticated`.
    pub error: String,
    /// A message for people.
    pub message: String,
    /// The request field at fault, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An [`AppError`] answered as JSON.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: self.0.code().to_owned(),
            message: self.0.to_string(),
            field: self.0.field().map(str::to_owned),
        };
        let mut response = (status, Json(body)).into_response();
        if let AppError::Throttled { retry_after_secs } = self.0 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// `Json<T>` whose rejections are API errors: unreadable JSON is 400,
/// JSON of the wrong shape (unknown or missing fields, wrong types) is 422.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(mut value) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(|rejection| ApiError(json_rejection(rejection)))?;
        integral_floats_as_integers(&mut value);
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| ApiError(AppError::invalid("body", e.to_string())))
    }
}

/// JSON Schema counts `5.0` as an integer, as JavaScript does; serde does
/// not. Whole numbers written with a fraction become integers, so every
/// request the OpenAPI document allows is read.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::{Number, Value};
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                // The casts saturate; the range checks keep them exact.
                if f >= 0.0 && f < u64::MAX as f64 {
                    *n = Number::from(f as u64);
                } else if f < 0.0 && f >= i64::MIN as f64 {
                    *n = Number::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::JsonDataError(e) => AppError::invalid("body", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => AppError::BadRequest(e.body_text()),
        JsonRejection::MissingJsonContentType(e) => AppError::BadRequest(e.body_text()),
        JsonRejection::BytesRejection(e) => AppError::BadRequest(e.body_text()),
        other => AppError::BadRequest(other.body_text()),
    }
}

/// A numeric id from the path, or a 400 that says so.
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| IdPath(id))
            .map_err(|e: PathRejection| ApiError(AppError::BadRequest(e.body_text())))
    }
}

/// Two numeric ids from the path (`/instances/{id}/snapshots/{sid}`), or a
/// 400 that says so.
pub struct IdsPath(pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdsPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<(i64, i64)>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path((a, b))| IdsPath(a, b))
            .map_err(|e: PathRejection| ApiError(AppError::BadRequest(e.body_text())))
    }
}

/// A query string whose rejections are API errors (422, naming it).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| ApiQuery(q))
            .map_err(|e| ApiError(AppError::invalid("query", e.body_text())))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A page of a list as the API answers it: the items as the body and,
/// while more follow, the next page's address in `Link` (`rel="next"`):
/// `path` with the query that `next_query` makes of the next cursor.
pub fn paged<T, Q: Serialize>(
    path: &str,
    page: app::model::Page<T>,
    next_query: impl FnOnce(String) -> Q,
) -> (header::HeaderMap, Json<Vec<T>>) {
    let mut headers = header::HeaderMap::new();
    if let Some(next) = page.next {
        // Serializing our own structs of strings and numbers cannot fail.
        let query = serde_urlencoded::to_string(next_query(next)).unwrap_or_default();
        let link = format!("<{path}?{query}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    (headers, Json(page.items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_written_with_a_fraction_read_as_integers() {
        let mut value = serde_json::json!({
            "a": 5.0, "b": [1.0, -2.0, 2.5], "c": {"d": 1e3}, "e": "5.0", "f": 7
        });
        integral_floats_as_integers(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a": 5, "b": [1, -2, 2.5], "c": {"d": 1000}, "e": "5.0", "f": 7})
        );
    }

    #[test]
    fn a_large_whole_number_with_a_fraction_reads_exactly() {
        // Schemathesis sent this disk quota; read without float_roundtrip it
        // became 2251799813685247.25 and the request was refused.
        let mut value: serde_json::Value =
            serde_json::from_str(r#"{"disk_gib": 2251799813685247.0, "n": -9007199254740991.0}"#)
                .unwrap();
        integral_floats_as_integers(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"disk_gib": 2_251_799_813_685_247_u64, "n": -9_007_199_254_740_991_i64})
        );
    }
}
