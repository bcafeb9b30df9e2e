//! The browser's part of passkeys: `navigator.credentials.create()` and
//! `.get()` on the options the server sent, their answers back as JSON
//! text. webauthn-rs-proto converts between its JSON types and the
//! browser's objects (base64url text and ArrayBuffers). Only the hydrated
//! page runs these; the server's build has them refuse.

/// Makes a new credential from the options of `begin_passkey`; answers
/// the browser's answer as JSON text, or why there is none.
#[cfg(feature = "hydrate")]
pub async fn create(options: serde_json::Value) -> Result<String, String> {
    use webauthn_rs_proto::{CreationChallengeResponse, RegisterPublicKeyCredential};

    let options: CreationChallengeResponse =
        serde_json::from_value(options).map_err(|e| e.to_string())?;
    let options = web_sys::CredentialCreationOptions::from(options);
    let promise = leptos::prelude::window()
        .navigator()
        .credentials()
        .create_with_options(&options)
        .map_err(reason)?;
    let credential = answer(promise).await?;
    serde_json::to_string(&RegisterPublicKeyCredential::from(credential)).map_err(|e| e.to_string())
}

/// Signs with one of the account's credentials, on the options of
/// `begin_passkey_sign_in`; answers as [`create`].
#[cfg(feature = "hydrate")]
pub async fn get(options: serde_json::Value) -> Result<String, String> {
    use webauthn_rs_proto::{PublicKeyCredential, RequestChallengeResponse};

    let options: RequestChallengeResponse =
        serde_json::from_value(options).map_err(|e| e.to_string())?;
    let options = web_sys::CredentialRequestOptions::from(options);
    let promise = leptos::prelude::window()
        .navigator()
        .credentials()
        .get_with_options(&options)
        .map_err(reason)?;
    let credential = answer(promise).await?;
    serde_json::to_string(&PublicKeyCredential::from(credential)).map_err(|e| e.to_string())
}

/// The credential a `navigator.credentials` promise settles with.
#[cfg(feature = "hydrate")]
async fn answer(promise: web_sys::js_sys::Promise) -> Result<web_sys::PublicKeyCredential, String> {
    use wasm_bindgen::JsCast;
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(reason)?
        .dyn_into::<web_sys::PublicKeyCredential>()
        .map_err(reason)
}

/// What the browser said went wrong (a DOMException's message: the person
/// cancelled, or no key answered in time).
#[cfg(feature = "hydrate")]
fn reason(err: wasm_bindgen::JsValue) -> String {
    js_sys_message(&err).unwrap_or_else(|| "the browser refused the passkey".to_owned())
}

#[cfg(feature = "hydrate")]
fn js_sys_message(err: &wasm_bindgen::JsValue) -> Option<String> {
    use wasm_bindgen::JsCast;
    err.dyn_ref::<web_sys::js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| err.as_string())
}

#[cfg(not(feature = "hydrate"))]
pub async fn create(_options: serde_json::Value) -> Result<String, String> {
    Err("passkeys need JavaScript".to_owned())
}

#[cfg(not(feature = "hydrate"))]
pub async fn get(_options: serde_json::Value) -> Result<String, String> {
    Err("passkeys need JavaScript".to_owned())
}
