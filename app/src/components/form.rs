use leptos::prelude::*;

use crate::error::AppError;

/// The message for `field`, when the last submission failed on it.
pub fn error_for_field<T>(result: &Option<Result<T, AppError>>, field: &str) -> Option<String> {
    match result {
        Some(Err(AppError::Invalid { field: f, message })) if f == field => Some(message.clone()),
        Some(Ok(_)) | Some(Err(_)) | None => None,
    }
}

/// The message for a failure that is not about one field.
pub fn general_error<T>(result: &Option<Result<T, AppError>>) -> Option<String> {
    match result {
        Some(Err(AppError::Invalid { .. })) => {
            // Also announced at the top: the field itself may be far below.
            Some("Please correct the field marked below.".to_owned())
        }
        Some(Err(e)) => Some(e.to_string()),
        Some(Ok(_)) | None => None,
    }
}

/// An inline message under a form field, linked to it by `id`.
#[component]
pub fn FieldError(id: String, message: Signal<Option<String>>) -> impl IntoView {
    view! {
        <p class="field-error" id=id role="alert" hidden=move || message.get().is_none()>
            {move || message.get().unwrap_or_default()}
        </p>
    }
}

/// A message about the whole form.
#[component]
pub fn ErrorBanner(message: Signal<Option<String>>) -> impl IntoView {
    view! {
        <Show when=move || message.get().is_some()>
            <div class="banner error" role="alert">
                {move || message.get().unwrap_or_default()}
            </div>
        </Show>
    }
}
