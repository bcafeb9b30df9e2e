use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{CreateToken, RevokeToken, get_tokens};
use crate::components::{
    ErrorBanner, FieldError, Layout, Loading, Pager, error_for_field, general_error,
};
use crate::model::{TokenQuery, TokenScope};

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    // The page of the list in the address bar, newest first.
    let params = use_query_map();
    let cursor = move || params.read().get("cursor").filter(|c| !c.is_empty());
    let tokens = Resource::new(
        move || (cursor(), create.version().get(), revoke.version().get()),
        |(cursor, _, _)| {
            get_tokens(TokenQuery {
                cursor,
                ..TokenQuery::default()
            })
        },
    );
    let name_error = Signal::derive(move || error_for_field(&create.value().get(), "name"));
    let code_error = Signal::derive(move || error_for_field(&create.value().get(), "code"));
    let general = Signal::derive(move || {
        general_error(&create.value().get()).or_else(|| general_error(&revoke.value().get()))
    });
    view! {
        <Title text="API tokens" />
        <Layout>
            <h1 class="page-title">"API tokens"</h1>
            <p class="lede">
                "A token lets scripts use the REST API as you: send it as "
                <code>"Authorization: Bearer TOKEN"</code> ". The API is described at "
                <a href="/api/v1/openapi.json">"/api/v1/openapi.json"</a> "."
            </p>
            <ErrorBanner message=general />
            <section class="card">
                <h2>"New token"</h2>
                <ActionForm action=create attr:class="row">
                    <label for="token-name" class="sr-only">"Token name"</label>
                    <input id="token-name" name="name" type="text" required maxlength="64"
                        placeholder="What it is for, e.g. backup script" aria-describedby="token-name-error" />
                    <label for="token-expiry">"Expires"</label>
                    <select id="token-expiry" name="expires_in_days">
                        <option value="30">"in 30 days"</option>
                        <option value="90" selected>"in 90 days"</option>
                        <option value="365">"in a year"</option>
                        <option value="never">"never"</option>
                    </select>
                    // Appliance admins may make a token for Prometheus.
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            tokens.await.ok().filter(|v| v.may_read_metrics).map(|_| view! {
                                <label for="token-scope">"For"</label>
                                <select id="token-scope" name="scope">
                                    <option value="full" selected>"everything you may do"</option>
                                    <option value="metrics">"reading /metrics only (Prometheus)"</option>
                                </select>
                            })
                        })}
                    </Transition>
                    <label for="token-code">"Authenticator code"</label>
                    <input id="token-code" name="code" type="text" inputmode="numeric"
                        autocomplete="one-time-code" maxlength="6" size="7"
                        placeholder="if you use one" aria-describedby="token-code-error" />
                    <button type="submit" class="button primary" disabled=move || create.pending().get()>
                        "Create token"
                    </button>
                </ActionForm>
                <FieldError id="token-name-error".into() message=name_error />
                <FieldError id="token-code-error".into() message=code_error />
                <super::passkeys::PasskeyConfirm />
            </section>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(view) => view! {
                            {view.just_created.map(|t| view! {
                                <div class="banner success" role="status">
                                    <p>"Token " <strong>{t.name}</strong> " created. Copy it now: it is not shown again."</p>
                                    <code class="secret" id="new-token">{t.token}</code>
                                </div>
                            })}
                            <section class="card">
                                <h2>"Your tokens"</h2>
                                {if view.tokens.items.is_empty() {
                                    view! { <p>"You have no tokens."</p> }.into_any()
                                } else {
                                    view! {
                                        <table>
                                            <thead><tr><th scope="col">"Name"</th><th scope="col">"For"</th><th scope="col">"Created"</th><th scope="col">"Last used"</th><th scope="col">"Expires"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                                            <tbody>
                                                {view.tokens.items.into_iter().map(|t| view! {
                                                    <tr>
                                                        <td>{t.name.clone()}</td>
                                                        <td class="token-scope">{match t.scope {
                                                            TokenScope::Full => "everything",
                                                            TokenScope::Metrics => "/metrics only",
                                                        }}</td>
                                                        <td><UtcTime unix=t.created_at /></td>
                                                        <td>{match t.last_used_at {
                                                            Some(at) => view! { <UtcTime unix=at /> }.into_any(),
                                                            None => "never".into_any(),
                                                        }}</td>
                                                        <td>{match t.expires_at {
                                                            Some(at) => view! { <UtcTime unix=at /> }.into_any(),
                                                            None => "never".into_any(),
                                                        }}</td>
                                                        <td>
                                                            <ActionForm action=revoke attr:class="inline">
                                                                <input type="hidden" name="id" value=t.id />
                                                                <button type="submit" class="button danger"
                                                                    aria-label=format!("Revoke token {}", t.name)>"Revoke"</button>
                                                            </ActionForm>
                                                        </td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                        <Pager path="/tokens".into() params=params.get() next=view.tokens.next />
                                    }.into_any()
                                }}
                            </section>
                        }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}

/// A UTC timestamp, readable without JavaScript.
#[component]
pub(super) fn UtcTime(unix: i64) -> impl IntoView {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let text = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    );
    let iso = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    );
    view! { <time datetime=iso>{text}</time> }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm); the wasm bundle carries no date library.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn converts_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
