use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::notifications::{
    AddMatcher, CreateWebhook, DeleteMatcher, DeleteWebhook, RotateWebhook, SaveSmtp, SendTestMail,
    get_deliveries, get_matchers, get_smtp, get_webhooks,
};
use crate::api::org::get_departments;
use crate::components::{ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error};
use crate::model::{
    DeliveryState, DeliveryView, MatcherView, NoticeKind, Severity, SmtpSecurity, SmtpView,
    WebhookView,
};
use crate::org::DepartmentView;

/// How many times `$action` succeeded (its version at the last success):
/// lists are read again after a change that took, not after a refused
/// one, which would put the stored values back over what was typed.
macro_rules! saved {
    ($action:expr) => {{
        let action = $action;
        Memo::new(move |before: Option<&usize>| match action.value().get() {
            Some(Ok(_)) => action.version().get(),
            Some(Err(_)) | None => before.copied().unwrap_or(0),
        })
    }};
}
pub(super) use saved;

/// Notifications (admins), routed as Proxmox VE does: the mail server
/// and webhook targets, the matchers that send each kind of notice to
/// them, and what was delivered or given up.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let save = ServerAction::<SaveSmtp>::new();
    let test = ServerAction::<SendTestMail>::new();
    let saved = saved!(save);
    let smtp = Resource::new(move || saved.get(), |_| get_smtp());
    let general = Signal::derive(move || {
        general_error(&save.value().get()).or_else(|| general_error(&test.value().get()))
    });
    view! {
        <Title text="Notifications" />
        <Layout>
            <h1 class="page-title">"Notifications"</h1>
            <p class="lede">
                "What happens to instances (deploys, leases, backups) and hosts is told by mail to "
                "the people concerned (the owner and the department's admins, each as their account "
                "page says) and to webhooks. Matchers choose which notices go where."
            </p>
            <ErrorBanner message=general />
            <Show when=move || matches!(save.value().get(), Some(Ok(_)))>
                <div class="banner success" role="status" id="smtp-saved">"Saved."</div>
            </Show>
            {move || test.value().get().and_then(Result::ok).map(|t| {
                let class = if t.sent { "banner success" } else { "banner error" };
                view! { <div class=class role="status" id="notify-test">{t.message}</div> }
            })}
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match smtp.await {
                        Ok(current) => view! { <SmtpCard current save test /> }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
            <Targets />
        </Layout>
    }
}

#[component]
fn SmtpCard(
    current: Option<SmtpView>,
    save: ServerAction<SaveSmtp>,
    test: ServerAction<SendTestMail>,
) -> impl IntoView {
    let result = save.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    let test_err = Signal::derive(move || error_for_field(&test.value().get(), "to"));
    let configured = current.is_some();
    let password_hint = match &current {
        Some(c) if c.has_password => "Set. Leave empty to keep it.",
        Some(_) | None => "None set.",
    };
    let (host, port, security, username, from) = match current {
        Some(c) => (
            c.host,
            c.port.to_string(),
            c.security,
            c.username.unwrap_or_default(),
            c.from,
        ),
        None => (
            String::new(),
            "587".into(),
            SmtpSecurity::Starttls,
            String::new(),
            String::new(),
        ),
    };
    let field = move |name: &'static str,
                      label: &'static str,
                      hint: &'static str,
                      value: String,
                      kind: &'static str| {
        let id = format!("smtp-{name}");
        let label_for = id.clone();
        let error_id = format!("smtp-{name}-error");
        let hint_id = format!("smtp-{name}-hint");
        view! {
            <label for=label_for>{label}</label>
            <input id=id name=name type=kind value=value autocomplete="off"
                aria-describedby=format!("{hint_id} {error_id}") />
            <p class="hint" id=hint_id>{hint}</p>
            <FieldError id=error_id message=err(name) />
        }
    };
    let option = move |value: SmtpSecurity, label: &'static str| {
        view! { <option value=value.as_str() selected=security == value>{label}</option> }
    };
    view! {
        <section class="card">
            <h2>"Mail server"</h2>
            <ActionForm action=save attr:class="form-card" attr:novalidate=true>
                {field("host", "Host", "The SMTP server's name or address.", host, "text")}
                {field("port", "Port", "587 for STARTTLS, 465 for TLS.", port, "text")}
                <label for="smtp-security">"Security"</label>
                <select id="smtp-security" name="security">
                    {option(SmtpSecurity::Starttls, "STARTTLS (required)")}
                    {option(SmtpSecurity::Tls, "TLS from the start")}
                    {option(SmtpSecurity::None, "None: a server on this machine only")}
                </select>
                {field("username", "User name", "To sign in to the server; empty for none.", username, "text")}
                {field("password", "Password", password_hint, String::new(), "password")}
                {field("from", "Sender address", "e.g. dpe@example.org", from, "email")}
                <button type="submit" class="button primary" disabled=move || save.pending().get()>
                    "Save"
                </button>
            </ActionForm>
            {configured.then(|| view! {
                <h3>"Send a test mail"</h3>
                <ActionForm action=test attr:class="row">
                    <label for="test-to">"To"</label>
                    <input id="test-to" name="to" type="email" required placeholder="you@example.org"
                        aria-describedby="test-to-error" />
                    <button type="submit" class="button" disabled=move || test.pending().get()>
                        "Send test"
                    </button>
                </ActionForm>
                <FieldError id="test-to-error".into() message=test_err />
            })}
        </section>
    }
}

/// Webhooks, matchers and deliveries, which change together.
#[component]
fn Targets() -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let rotate = ServerAction::<RotateWebhook>::new();
    let remove = ServerAction::<DeleteWebhook>::new();
    let add = ServerAction::<AddMatcher>::new();
    let drop_matcher = ServerAction::<DeleteMatcher>::new();
    let changes = [
        saved!(create),
        saved!(rotate),
        saved!(remove),
        saved!(add),
        saved!(drop_matcher),
    ];
    let versions = move || changes.map(|c| c.get());
    let data = Resource::new(versions, |_| async {
        (
            get_webhooks().await,
            get_matchers().await,
            get_departments().await,
            get_deliveries(false).await,
        )
    });
    let general = Signal::derive(move || {
        general_error(&create.value().get())
            .or_else(|| general_error(&rotate.value().get()))
            .or_else(|| general_error(&remove.value().get()))
            .or_else(|| general_error(&add.value().get()))
            .or_else(|| general_error(&drop_matcher.value().get()))
    });
    let secret = move || {
        let made = create.value().get().and_then(Result::ok);
        made.or_else(|| rotate.value().get().and_then(Result::ok))
    };
    view! {
        <ErrorBanner message=general />
        {move || secret().map(|s| view! {
            <div class="banner success" role="status">
                <p>"The secret of webhook " <strong>{s.webhook.name}</strong>
                    ". Copy it now: it is not shown again."</p>
                <code class="secret" id="webhook-secret">{s.secret}</code>
            </div>
        })}
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    (Ok(hooks), Ok(matchers), Ok(departments), Ok(deliveries)) => view! {
                        <WebhooksCard hooks=hooks.clone() departments=departments.clone() create rotate remove />
                        <MatchersCard matchers hooks departments add drop_matcher />
                        <DeliveriesCard deliveries />
                    }.into_any(),
                    (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
                        view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

fn department_name(departments: &[DepartmentView], id: Option<i64>) -> String {
    match id {
        None => "the whole appliance".into(),
        Some(id) => departments
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.path.clone())
            .unwrap_or_else(|| format!("#{id}")),
    }
}

fn department_options(departments: &[DepartmentView]) -> impl IntoView + use<> {
    let options = departments
        .iter()
        .map(|d| view! { <option value=d.id>{d.path.clone()}</option> })
        .collect_view();
    view! {
        <option value="" selected=true>"The whole appliance"</option>
        {options}
    }
}

#[component]
fn WebhooksCard(
    hooks: Vec<WebhookView>,
    departments: Vec<DepartmentView>,
    create: ServerAction<CreateWebhook>,
    rotate: ServerAction<RotateWebhook>,
    remove: ServerAction<DeleteWebhook>,
) -> impl IntoView {
    let result = create.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    let rows = hooks
        .into_iter()
        .map(|h| {
            let scope = department_name(&departments, h.department_id);
            let rotation = h
                .old_secret_until
                .map(|until| format!("the old secret signs too until {until}"))
                .unwrap_or_default();
            let (rotate_label, remove_label) = (
                format!("New secret for webhook {}", h.name),
                format!("Remove webhook {}", h.name),
            );
            view! {
                <tr>
                    <td>{h.name}</td>
                    <td><code>{h.url}</code></td>
                    <td>{scope}</td>
                    <td>{rotation}</td>
                    <td>
                        <ActionForm action=rotate attr:class="inline">
                            <input type="hidden" name="id" value=h.id />
                            <button type="submit" class="button"
                                aria-label=rotate_label>"New secret"</button>
                        </ActionForm>
                        <ActionForm action=remove attr:class="inline">
                            <input type="hidden" name="id" value=h.id />
                            <button type="submit" class="button danger"
                                aria-label=remove_label>"Remove"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Webhooks"</h2>
            <p class="hint">
                "Each notice is POSTed as JSON, signed as Standard Webhooks says (headers "
                <code>"webhook-id"</code> ", " <code>"webhook-timestamp"</code> ", "
                <code>"webhook-signature"</code> "), and retried with growing waits if it fails."
            </p>
            <table>
                <thead><tr><th scope="col">"Name"</th><th scope="col">"URL"</th><th scope="col">"Notices of"</th>
                    <th scope="col">"Rotation"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"New webhook"</h3>
            <ActionForm action=create attr:class="form-card" attr:novalidate=true>
                <label for="hook-name">"Name"</label>
                <input id="hook-name" name="name" type="text" maxlength="64" aria-describedby="hook-name-error" />
                <FieldError id="hook-name-error".into() message=err("name") />
                <label for="hook-url">"URL"</label>
                <input id="hook-url" name="url" type="url" placeholder="https://chat.example.org/hooks/dpe"
                    aria-describedby="hook-url-error" />
                <FieldError id="hook-url-error".into() message=err("url") />
                <label for="hook-department">"Notices of"</label>
                <select id="hook-department" name="department_id">{department_options(&departments)}</select>
                <button type="submit" class="button primary" disabled=move || create.pending().get()>
                    "Add webhook"
                </button>
            </ActionForm>
        </section>
    }
}

fn kinds_text(kinds: &[NoticeKind]) -> String {
    if kinds.is_empty() {
        "every kind".into()
    } else {
        kinds
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[component]
fn MatchersCard(
    matchers: Vec<MatcherView>,
    hooks: Vec<WebhookView>,
    departments: Vec<DepartmentView>,
    add: ServerAction<AddMatcher>,
    drop_matcher: ServerAction<DeleteMatcher>,
) -> impl IntoView {
    let result = add.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    let rows = matchers
        .into_iter()
        .map(|m| {
            let (id, matcher) = (m.id, m);
            let mut targets: Vec<String> = matcher
                .webhooks
                .iter()
                .map(|w| {
                    hooks
                        .iter()
                        .find(|h| h.id == *w)
                        .map_or_else(|| format!("webhook #{w}"), |h| format!("webhook {}", h.name))
                })
                .collect();
            if matcher.mail {
                targets.insert(0, "mail".into());
            }
            view! {
                <tr>
                    <td>{matcher.name.clone()}</td>
                    <td>{kinds_text(&matcher.kinds)}</td>
                    <td>{matcher.min_severity.as_str()} " or worse"</td>
                    <td>{department_name(&departments, matcher.department_id)}</td>
                    <td>{targets.join(", ")}</td>
                    <td>
                        <ActionForm action=drop_matcher attr:class="inline">
                            <input type="hidden" name="id" value=id />
                            <button type="submit" class="button danger"
                                aria-label=format!("Remove matcher {}", matcher.name)>"Remove"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let kind_boxes = NoticeKind::ALL
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let id = format!("matcher-kind-{}", k.as_str());
            let label_for = id.clone();
            view! {
                <label class="choice" for=label_for>
                    <input id=id type="checkbox" name=format!("kinds[{i}]") value=k.as_str() />
                    <span>{k.label()}</span>
                </label>
            }
        })
        .collect_view();
    let hook_boxes = hooks
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let id = format!("matcher-hook-{}", h.id);
            let label_for = id.clone();
            view! {
                <label class="choice" for=label_for>
                    <input id=id type="checkbox" name=format!("webhooks[{i}]") value=h.id />
                    <span>"Webhook " {h.name.clone()}</span>
                </label>
            }
        })
        .collect_view();
    let severity = |s: Severity| view! { <option value=s.as_str()>{s.as_str()}</option> };
    view! {
        <section class="card">
            <h2>"Matchers"</h2>
            <p class="hint">"A notice goes to every target of every matcher it matches, once."</p>
            <table>
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Kinds"</th><th scope="col">"Severity"</th>
                    <th scope="col">"Department"</th><th scope="col">"Targets"</th>
                    <th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <h3>"New matcher"</h3>
            <ActionForm action=add attr:class="form-card" attr:novalidate=true>
                <label for="matcher-name">"Name"</label>
                <input id="matcher-name" name="name" type="text" maxlength="64" aria-describedby="matcher-name-error" />
                <FieldError id="matcher-name-error".into() message=err("name") />
                <fieldset class="choices">
                    <legend>"Kinds (none: every kind)"</legend>
                    {kind_boxes}
                </fieldset>
                <label for="matcher-severity">"At least"</label>
                <select id="matcher-severity" name="min_severity">
                    {severity(Severity::Info)}{severity(Severity::Warning)}{severity(Severity::Error)}
                </select>
                <label for="matcher-department">"Department (and those below it)"</label>
                <select id="matcher-department" name="department_id">{department_options(&departments)}</select>
                <fieldset class="choices">
                    <legend>"Targets"</legend>
                    <label class="choice" for="matcher-mail">
                        <input id="matcher-mail" type="checkbox" name="mail" value="on" />
                        <span>"Mail to the people concerned"</span>
                    </label>
                    {hook_boxes}
                </fieldset>
                <FieldError id="matcher-webhooks-error".into() message=err("webhooks") />
                <button type="submit" class="button primary" disabled=move || add.pending().get()>
                    "Add matcher"
                </button>
            </ActionForm>
        </section>
    }
}

#[component]
fn DeliveriesCard(deliveries: Vec<DeliveryView>) -> impl IntoView {
    let empty = deliveries.is_empty();
    let failed = deliveries
        .iter()
        .filter(|d| d.state == DeliveryState::Failed)
        .count();
    let rows = deliveries
        .into_iter()
        .map(|d| {
            let class = match d.state {
                DeliveryState::Failed => "state-failed",
                DeliveryState::Pending | DeliveryState::Sending | DeliveryState::Sent => "",
            };
            view! {
                <tr class=class>
                    <td>{d.kind.label()}</td>
                    <td>{d.channel.as_str()} ": " {d.recipient}</td>
                    <td>{d.state.as_str()}</td>
                    <td>{d.attempts}</td>
                    <td>{d.at}</td>
                    <td>{d.last_error.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" id="deliveries">
            <h2>"Deliveries"</h2>
            <p class="hint">
                {format!("The latest; {failed} given up after their last attempt.")}
            </p>
            {empty.then(|| view! { <p>"Nothing delivered yet."</p> })}
            <table hidden=empty>
                <thead><tr><th scope="col">"Notice"</th><th scope="col">"To"</th><th scope="col">"State"</th>
                    <th scope="col">"Attempts"</th><th scope="col">"When"</th><th scope="col">"Last error"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}
