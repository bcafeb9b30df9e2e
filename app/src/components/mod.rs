//! Pieces shared by the pages.

mod form;
mod layout;
mod quota;

pub use form::{ErrorBanner, FieldError, error_for_field, general_error};
pub use layout::{Layout, Loading, StateBadge};
pub use quota::quota_fields;
