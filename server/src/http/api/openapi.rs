use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "dpe REST API", description = "Self-service provisioning on KVM. \
        Authenticate with the session cookie from /api/v1/login or with \
        `Authorization: Bearer TOKEN`."),
    paths(
        super::system::health, super::system::setup,
        super::auth::login, super::auth::logout, super::auth::me,
        super::auth::change_password,
        super::second_factor::complete_sign_in, super::second_factor::status,
        super::second_factor::begin_totp, super::second_factor::confirm_totp,
        super::second_factor::remove_totp, super::second_factor::renew_recovery_codes,
        super::second_factor::unlock, super::second_factor::reset,
        super::second_factor::begin_enrolment, super::second_factor::finish_enrolment,
        super::second_factor::policy, super::second_factor::set_policy,
        super::passkeys::begin, super::passkeys::finish, super::passkeys::remove,
        super::passkeys::begin_sign_in, super::passkeys::finish_sign_in,
        super::passkeys::begin_confirmation, super::passkeys::finish_confirmation,
        super::passkeys::begin_enrolment, super::passkeys::finish_enrolment,
        super::tokens::list, super::tokens::create, super::tokens::revoke,
        super::instances::stack, super::instances::deploy, super::instances::list,
        super::instances::get, super::instances::start, super::instances::shutdown,
        super::instances::reboot, super::instances::poweroff, super::instances::delete,
        super::instances::patch, super::instances::apps_settings,
        super::instances::set_apps_settings,
        super::instances::task, super::instances::task_events, super::events::events,
        super::snapshots::list, super::snapshots::take, super::snapshots::revert,
        super::snapshots::delete, super::resize::resize,
        super::backups::of_instance, super::backups::start, super::backups::list,
        super::backups::verify, super::backups::restore, super::backups::store,
        super::backups::restore_in_place, super::backups::drill, super::backups::set_store,
        super::backups::default_policy, super::backups::set_default_policy,
        super::backups::department_policy, super::backups::set_department_policy,
        super::backups::clear_department_policy,
        super::hosts::list, super::hosts::add, super::hosts::remove, super::hosts::orphans, super::hosts::adopt_orphan, super::hosts::release_orphans,
        super::hosts::credentials, super::hosts::server_certificate, super::hosts::drain,
        super::hosts::resume, super::hosts::move_instance,
        super::zones::list, super::zones::set_outside, super::zones::clear_outside,
        super::pool::get, super::pool::set,
        super::versions::list, super::versions::scan, super::versions::make_current,
        super::org::list_departments, super::org::create_department,
        super::org::update_department, super::org::delete_department,
        super::org::list_members, super::org::create_member, super::org::update_member,
        super::org::audit_log, super::org::my_quotas, super::org::get_directory,
        super::org::set_directory, super::org::test_directory,
        super::org::get_default_quota, super::org::set_default_quota,
        super::leases::extend, super::leases::get_policy, super::leases::set_policy,
        super::leases::get_default_policy, super::leases::set_default_policy,
        super::notifications::smtp, super::notifications::set_smtp,
        super::notifications::test, super::notifications::webhooks,
        super::notifications::create_webhook, super::notifications::rotate_webhook,
        super::notifications::delete_webhook, super::notifications::matchers,
        super::notifications::create_matcher, super::notifications::update_matcher,
        super::notifications::delete_matcher, super::notifications::deliveries,
        super::notifications::preferences, super::notifications::set_preferences,
        super::approvals::list, super::approvals::approve, super::approvals::reject,
        super::approvals::get_policy, super::approvals::set_policy,
        super::usage::of_instance, super::usage::of_department, super::usage::of_hosts,
        crate::http::metrics::metrics,
    ),
    components(schemas(super::ErrorBody, app::model::InstanceSort, app::model::Health,
        app::model::NetworkZone, app::model::PoolState, app::model::TokenScope)),
    modifiers(&Security, &StandardErrors, &ClosedVariants),
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("dpe_session"))),
        );
    }
}

/// The error answers any operation of a kind can give, added where its own
/// description leaves them out, so the document lists every status the
/// API really sends:
/// - 400: a body that is not JSON, or a path or query value of the wrong type;
/// - 401 and 403: not signed in, or not allowed (or a cross-site browser
///   request), on every operation that needs a principal;
/// - 404: no such object, on every operation with an id in its path;
/// - 422: a body or query of the wrong shape;
/// - 507: on every operation that writes, the appliance's data disk (or a
///   host's storage pool) is full; nothing was changed.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for (index, operation) in operations.into_iter().enumerate() {
                let Some(operation) = operation else {
                    continue;
                };
                // Every method but GET (the first) may write.
                let writes = index > 0;
                let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let has_body = operation.request_body.is_some();
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                };
                if has_params || has_body {
                    add(
                        "400",
                        "Malformed request: unreadable JSON, or a value of the wrong type",
                    );
                }
                if secured {
                    add(
                        "401",
                        "Not signed in, or an unknown, expired or malformed token",
                    );
                    add(
                        "403",
                        "Not allowed for this account, or a cross-site browser request",
                    );
                }
                if path.contains('{') {
                    add("404", "No such object, or not one the caller may see");
                }
                if has_body || has_params {
                    add(
                        "422",
                        "A field is missing, unknown, of the wrong type or invalid",
                    );
                }
                if writes {
                    add(
                        "507",
                        "`storage_full`: the appliance's data disk or a host's storage \
                         pool is full; nothing was changed",
                    );
                }
            }
        }
    }
}

/// utoipa marks a struct with `#[serde(deny_unknown_fields)]` as closed
/// (`additionalProperties: false`) but not the variants of a tagged enum
/// that has it, and serde allows the attribute on the enum only. serde
/// refuses an unknown field in such a variant (422), so the document says so
/// for each enum named here.
struct ClosedVariants;

/// The tagged enums with `deny_unknown_fields` in the document.
const CLOSED_ENUMS: [&str; 1] = ["AppsAddressing"];

impl Modify for ClosedVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{AdditionalProperties, Schema};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in CLOSED_ENUMS {
            let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut(name) else {
                continue;
            };
            for variant in &mut one_of.items {
                if let RefOr::T(Schema::Object(object)) = variant {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

pub fn spec() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The OpenAPI 3.1 description of this API.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variants_of_a_closed_tagged_enum_allow_no_other_fields() {
        let doc = serde_json::to_value(spec()).unwrap();
        for name in CLOSED_ENUMS {
            let variants = doc["components"]["schemas"][name]["oneOf"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} is a oneOf"));
            for variant in variants {
                assert_eq!(variant["additionalProperties"], false, "{name}: {variant}");
            }
        }
    }

    #[test]
    fn every_operation_documents_the_errors_it_can_give() {
        let doc = serde_json::to_value(spec()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let has = |status: &str| op["responses"].get(status).is_some();
                let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
                let what = format!("{method} {path}");
                if secured {
                    assert!(has("401") && has("403"), "{what}");
                }
                if path.contains('{') {
                    assert!(has("400") && has("404"), "{what}");
                }
                if op.get("requestBody").is_some() {
                    assert!(has("400") && has("422"), "{what}");
                }
            }
        }
    }
}
