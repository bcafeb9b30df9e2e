use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::console::get_console;
use crate::components::{Layout, Loading};
use crate::model::{ConsoleSignIn, InstanceView};

/// xterm.js, vendored from npm by `scripts/build` under its version's
/// name (so it may be cached for good).
const XTERM_JS: &str = "/pkg/xterm-6.0.0.js";
const XTERM_CSS: &str = "/pkg/xterm-6.0.0.css";
/// The page's own script: the terminal and its WebSocket. Inline, with
/// the page's nonce, so it needs no file of its own.
const GLUE: &str = include_str!("console.js");

/// An instance's serial console: xterm.js over a WebSocket on the
/// portal's own origin and session. Whoever may see the instance may use
/// it; opening it is audited.
#[component]
pub fn ConsolePage() -> impl IntoView {
    let id = crate::components::use_route_id();
    let page = Resource::new(id, get_console);
    view! {
        <Title text="Console" />
        <Layout>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) => view! { <Terminal inst=page.instance sign_in=page.sign_in /> }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}

#[component]
fn Terminal(inst: InstanceView, sign_in: Option<ConsoleSignIn>) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    view! {
        <Title text=format!("Console of {}", inst.name) />
        <div class="page-head">
            <h1 class="page-title">"Console of " {inst.name.clone()}</h1>
            <a class="button" href=format!("/instances/{}", inst.id)>"Back to the instance"</a>
        </div>
        <section class="card console">
            <p class="hint">
                "The guest's serial line, shared with everyone who has it open. Select to copy; "
                "paste with Ctrl+Shift+V. The guest learns the terminal's size only when asked."
            </p>
            {sign_in.map(|s| view! {
                <p class="hint console-sign-in">
                    "Sign in as " <code>{s.user}</code> " with the " {s.password.to_lowercase()}
                    " chosen when the instance was deployed."
                </p>
            })}
            <div id="console" class="terminal" data-socket=format!("/instances/{}/console/ws", inst.id)></div>
            <div class="console-bar">
                <button type="button" class="button" id="console-resize">"Tell the guest this size"</button>
                <span id="console-state" role="status">"Connecting…"</span>
            </div>
        </section>
        <link rel="stylesheet" href=XTERM_CSS />
        <script src=XTERM_JS></script>
        <script nonce=nonce inner_html=GLUE></script>
    }
}
