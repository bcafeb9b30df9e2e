//! Passkeys and security keys in the portal: the account page's card
//! (add one with a name, list, remove with the password) and the sign-in's
//! "Use a passkey". The ceremonies need JavaScript: the hydrated page asks
//! the browser (`crate::passkeys`) between the two server calls.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::tokens::UtcTime;
use crate::api::passkeys::{
    RemovePasskey, begin_passkey, begin_passkey_confirmation, begin_passkey_enrolment,
    begin_passkey_sign_in, finish_passkey, finish_passkey_confirmation, finish_passkey_enrolment,
    finish_passkey_sign_in,
};
use crate::api::second_factor::get_second_factor;
use crate::components::{ErrorBanner, FieldError, Loading, error_for_field, general_error};
use crate::error::AppError;
use crate::model::PasskeyKind;

/// What the person calls a key of this kind.
fn kind_name(kind: PasskeyKind) -> &'static str {
    match kind {
        PasskeyKind::Passkey => "passkey",
        PasskeyKind::SecurityKey => "security key",
    }
}

/// The account page's list of keys, the form that adds one, and each
/// one's removal (with the password, as the authenticator app's).
#[component]
pub fn PasskeysCard() -> impl IntoView {
    let added = RwSignal::new(0u32);
    let remove = ServerAction::<RemovePasskey>::new();
    let status = Resource::new(
        move || (added.get(), remove.version().get()),
        |_| get_second_factor(),
    );
    let name = RwSignal::new(String::new());
    // Which button submitted the form (its click comes before the submit).
    let kind = RwSignal::new(PasskeyKind::Passkey);
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    // The first key's recovery codes, shown this once.
    let codes = RwSignal::new(None::<Vec<String>>);
    let removed_error = Signal::derive(move || general_error(&remove.value().get()));
    let password_error = Signal::derive(move || error_for_field(&remove.value().get(), "password"));
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        problem.set(None);
        let (chosen, kind) = (name.get_untracked(), kind.get_untracked());
        spawn_local(async move {
            let outcome = async {
                let challenge = begin_passkey(chosen, kind)
                    .await
                    .map_err(|e| e.to_string())?;
                let answer = crate::passkeys::create(challenge.options).await?;
                finish_passkey(answer).await.map_err(|e| e.to_string())
            }
            .await;
            busy.set(false);
            match outcome {
                Ok(key) => {
                    codes.set(key.recovery_codes.map(|r| r.codes));
                    name.set(String::new());
                    added.update(|n| *n += 1);
                }
                Err(why) => problem.set(Some(why)),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="passkeys-title">
            <h2 id="passkeys-title">"Passkeys and security keys"</h2>
            <p class="hint">
                "A passkey on this device or your phone, or a security key, can be used after "
                "your password in place of a code. A passkey asks for your PIN, fingerprint or "
                "face each time; a security key only for a touch, so a key with no PIN serves."
            </p>
            <ErrorBanner message=Signal::derive(move || problem.get()) />
            <ErrorBanner message=removed_error />
            {move || codes.get().map(|codes| view! {
                <div class="banner success" role="status">
                    <p>
                        "Your key is set up. Keep these recovery codes somewhere safe: each "
                        "signs you in once if the key is lost. They are not shown again."
                    </p>
                    <ul class="recovery-codes" id="passkey-recovery-codes">
                        {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                    </ul>
                </div>
            })}
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(s) if s.passkeys.is_empty() => view! {
                            <p id="no-passkeys">"You have no passkeys."</p>
                        }.into_any(),
                        Ok(s) => view! {
                            <table id="passkeys">
                                <thead><tr>
                                    <th scope="col">"Name"</th><th scope="col">"Kind"</th>
                                    <th scope="col">"Added"</th>
                                    <th scope="col">"Last used"</th>
                                    <th scope="col"><span class="sr-only">"Remove"</span></th>
                                </tr></thead>
                                <tbody>
                                    {s.passkeys.into_iter().map(|k| {
                                        let field = format!("passkey-password-{}", k.id);
                                        view! {
                                            <tr>
                                                <td>{k.name.clone()}</td>
                                                <td>{kind_name(k.kind)}</td>
                                                <td><UtcTime unix=k.created_at /></td>
                                                <td>{match k.last_used_at {
                                                    Some(at) => view! { <UtcTime unix=at /> }.into_any(),
                                                    None => "never".into_any(),
                                                }}</td>
                                                <td>
                                                    <ActionForm action=remove attr:class="inline" attr:novalidate=true>
                                                        <input type="hidden" name="id" value=k.id />
                                                        <label class="sr-only" for=field.clone()>
                                                            {format!("Password, to remove {}", k.name)}
                                                        </label>
                                                        <input id=field name="password" type="password"
                                                            autocomplete="current-password" required
                                                            placeholder="Password" />
                                                        <button type="submit" class="button danger"
                                                            aria-label=format!("Remove {} {}", kind_name(k.kind), k.name)>
                                                            "Remove"
                                                        </button>
                                                    </ActionForm>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <FieldError id="passkey-password-error".into() message=password_error />
                        }.into_any(),
                        Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            <form class="form-card" on:submit=add>
                <label for="passkey-name">"Name of the new key"</label>
                <input id="passkey-name" name="name" type="text" maxlength="64" required
                    placeholder="Laptop, YubiKey…" bind:value=name />
                <div class="actions">
                    <button type="submit" class="button primary" id="add-passkey"
                        disabled=move || busy.get()
                        on:click=move |_| kind.set(PasskeyKind::Passkey)>
                        {move || if busy.get() { "Waiting for the key…" } else { "Add a passkey" }}
                    </button>
                    <button type="submit" class="button" id="add-security-key"
                        disabled=move || busy.get()
                        on:click=move |_| kind.set(PasskeyKind::SecurityKey)>
                        "Add a security key (no PIN)"
                    </button>
                </div>
            </form>
        </section>
    }
}

/// The sign-in's "Use a passkey", shown when the account has one: the
/// browser signs the server's challenge with it, which signs the session
/// in, then on to `onward`.
#[component]
pub fn PasskeySignIn(onward: Signal<String>) -> impl IntoView {
    let challenge = LocalResource::new(begin_passkey_sign_in);
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let use_key = move |_| {
        let Some(Ok(offered)) = challenge.get() else {
            return;
        };
        busy.set(true);
        problem.set(None);
        spawn_local(async move {
            let outcome = async {
                let answer = crate::passkeys::get(offered.options).await?;
                finish_passkey_sign_in(answer)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            match outcome {
                Ok(_) => {
                    let to = crate::validate::local_path(&onward.get_untracked()).to_owned();
                    let _ = window().location().set_href(&to);
                }
                Err(why) => {
                    busy.set(false);
                    problem.set(Some(why));
                    // Each challenge answers once: a new one for another try.
                    challenge.refetch();
                }
            }
        });
    };
    view! {
        {move || match challenge.get() {
            Some(Ok(_)) => view! {
                <ErrorBanner message=Signal::derive(move || problem.get()) />
                <button type="button" class="button primary" id="use-passkey"
                    disabled=move || busy.get() on:click=use_key>
                    {move || if busy.get() { "Waiting for the key…" } else { "Use a passkey or security key" }}
                </button>
                <p class="hint">"Or give a code:"</p>
            }.into_any(),
            Some(Err(AppError::NotFound(_))) | None => ().into_any(),
            Some(Err(e)) => view! { <p class="banner error" role="alert">{e.to_string()}</p> }.into_any(),
        }}
    }
}

/// The tokens page's "Confirm with a passkey", shown when the account has
/// one: the key signs a fresh challenge, and the next token's creation
/// (within five minutes) needs no code.
#[component]
pub fn PasskeyConfirm() -> impl IntoView {
    let status = LocalResource::new(get_second_factor);
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let confirmed = RwSignal::new(false);
    let confirm = move |_| {
        busy.set(true);
        problem.set(None);
        spawn_local(async move {
            let outcome = async {
                let challenge = begin_passkey_confirmation()
                    .await
                    .map_err(|e| e.to_string())?;
                let answer = crate::passkeys::get(challenge.options).await?;
                finish_passkey_confirmation(answer)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            busy.set(false);
            match outcome {
                Ok(()) => confirmed.set(true),
                Err(why) => problem.set(Some(why)),
            }
        });
    };
    view! {
        {move || match status.get() {
            Some(Ok(s)) if !s.passkeys.is_empty() => view! {
                <ErrorBanner message=Signal::derive(move || problem.get()) />
                <button type="button" class="button" id="confirm-passkey"
                    disabled=move || busy.get() on:click=confirm>
                    {move || if busy.get() { "Waiting for the key…" } else { "Confirm with a passkey" }}
                </button>
                {move || confirmed.get().then(|| view! {
                    <p class="hint" id="passkey-confirmed" role="status">
                        "Confirmed: create the token within five minutes, without a code."
                    </p>
                })}
            }.into_any(),
            Some(Ok(_) | Err(_)) | None => ().into_any(),
        }}
    }
}

/// The sign-in's enrolment with a passkey, for an account that must use a
/// second factor: a name, the browser's ceremony, then the recovery codes
/// and on to `onward` (the session is signed in by then); `done` is set
/// then.
#[component]
pub fn PasskeyEnrol(onward: Signal<String>, done: RwSignal<bool>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(PasskeyKind::Passkey);
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let codes = RwSignal::new(None::<Vec<String>>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        problem.set(None);
        let (chosen, kind) = (name.get_untracked(), kind.get_untracked());
        spawn_local(async move {
            let outcome = async {
                let challenge = begin_passkey_enrolment(chosen, kind)
                    .await
                    .map_err(|e| e.to_string())?;
                let answer = crate::passkeys::create(challenge.options).await?;
                finish_passkey_enrolment(answer)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            busy.set(false);
            match outcome {
                Ok(key) => {
                    codes.set(Some(
                        key.recovery_codes.map(|r| r.codes).unwrap_or_default(),
                    ));
                    done.set(true);
                }
                Err(why) => problem.set(Some(why)),
            }
        });
    };
    view! {
        <ErrorBanner message=Signal::derive(move || problem.get()) />
        {move || match codes.get() {
            Some(codes) => view! {
                <div class="banner success" role="status">
                    <p>
                        "Your key is set up. Keep these recovery codes somewhere safe: each "
                        "signs you in once if the key is lost. They are not shown again."
                    </p>
                    <ul class="recovery-codes" id="passkey-recovery-codes">
                        {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                    </ul>
                </div>
                <a class="button primary" href=crate::validate::local_path(&onward.get()).to_owned()
                    rel="external">"Continue"</a>
            }.into_any(),
            None => view! {
                <form class="stack" on:submit=add>
                    <label for="enrol-passkey-name">"Name of the key"</label>
                    <input id="enrol-passkey-name" name="name" type="text" maxlength="64" required
                        placeholder="Laptop, YubiKey…" bind:value=name />
                    <div class="actions">
                        <button type="submit" class="button" disabled=move || busy.get()
                            on:click=move |_| kind.set(PasskeyKind::Passkey)>
                            {move || if busy.get() { "Waiting for the key…" } else { "Add a passkey instead" }}
                        </button>
                        <button type="submit" class="button" id="enrol-security-key"
                            disabled=move || busy.get()
                            on:click=move |_| kind.set(PasskeyKind::SecurityKey)>
                            "Add a security key (no PIN)"
                        </button>
                    </div>
                </form>
            }.into_any(),
        }}
    }
}
