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
        super::tokens::list, super::tokens::create, super::tokens::revoke,
        super::instances::stack, super::instances::deploy, super::instances::list,
        super::instances::get, super::instances::start, super::instances::shutdown,
        super::instances::reboot, super::instances::poweroff, super::instances::delete,
        super::instances::task, super::instances::task_events,
        super::hosts::list, super::hosts::add, super::hosts::remove, super::hosts::orphans,
        super::zones::list, super::zones::set_outside, super::zones::clear_outside,
        super::org::list_departments, super::org::create_department,
        super::org::update_department, super::org::delete_department,
        super::org::list_members, super::org::create_member, super::org::update_member,
        super::org::audit_log, super::org::my_quotas, super::org::get_directory,
        super::org::set_directory, super::org::test_directory,
        super::org::get_default_quota, super::org::set_default_quota,
    ),
    components(schemas(super::ErrorBody)),
    modifiers(&Security),
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

pub fn spec() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The OpenAPI 3.1 description of this API.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}
