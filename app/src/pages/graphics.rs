use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::console::get_console;
use crate::components::{Layout, Loading};
use crate::model::InstanceView;

/// noVNC's RFB client, vendored from npm by `scripts/build` under its
/// version's name (its ES modules import one another relatively).
const NOVNC_RFB: &str = "/pkg/novnc-1.7.0/core/rfb.js";
/// The page's own script: the viewer and its button.
/// Inline, with the page's nonce, so it needs no file of its own.
const GLUE: &str = include_str!("graphics.js");

/// An instance's graphical console: noVNC over a WebSocket on the
/// portal's own origin and session, bridged to the guest's display.
/// Whoever may see the instance may use it; opening it is audited.
#[component]
pub fn GraphicsPage() -> impl IntoView {
    let id = crate::components::use_route_id();
    let page = Resource::new(id, get_console);
    view! {
        <Title text="Display" />
        <Layout>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) => view! { <Screen inst=page.instance /> }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}

#[component]
fn Screen(inst: InstanceView) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    view! {
        <Title text=format!("Display of {}", inst.name) />
        <div class="page-head">
            <h1 class="page-title">"Display of " {inst.name.clone()}</h1>
            <a class="button" href=format!("/instances/{}/console", inst.id) rel="external">"Serial console"</a>
            <a class="button" href=format!("/instances/{}", inst.id)>"Back to the instance"</a>
        </div>
        <section class="card console">
            <p class="hint">
                "The guest's screen, shared with everyone who has it open. While it has the "
                "focus, keys and the mouse go to the guest."
            </p>
            <div
                id="screen"
                class="screen"
                data-socket=format!("/instances/{}/vnc/ws", inst.id)
                data-rfb=NOVNC_RFB
            ></div>
            <div class="console-bar">
                <button type="button" class="button" id="graphics-cad">"Send Ctrl+Alt+Del"</button>
                <span id="graphics-state" role="status">"Connecting…"</span>
            </div>
            // QEMU's VNC server passes a clipboard only through a vdagent
            // channel, which the hosts' QEMU cannot migrate (see the
            // domain definition): the serial console has copy and paste.
            <p class="hint">
                "Copy and paste do not reach the guest's screen; the serial console has them."
            </p>
        </section>
        <script type="module" nonce=nonce inner_html=GLUE></script>
    }
}
