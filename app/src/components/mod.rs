//! Pieces shared by the pages.

mod confirm;
mod form;
mod layout;
mod pager;
mod quota;
mod route_id;

pub use confirm::{Confirm, OpenConfirms};
pub use form::{ErrorBanner, FieldError, error_for_field, general_error};
pub use layout::{Layout, Loading, StaleBanner, StateBadge};
pub use pager::{Pager, address_with};
pub use quota::quota_fields;
pub use route_id::use_route_id;
