//! The Approvals page: the deploy requests one may decide, each with a
//! comment box and Approve and Reject buttons, and one's own requests
//! with their decisions. The forms work without JavaScript too.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::approvals::{DecideApproval, get_approvals};
use crate::components::{ErrorBanner, Layout, Loading, general_error};
use crate::model::{ApprovalState, ApprovalView};

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let decide = ServerAction::<DecideApproval>::new();
    let live = crate::live::LiveFeed::get();
    let list = Resource::new(
        move || (decide.version().get(), live.tick()),
        |_| get_approvals(),
    );
    let general = Signal::derive(move || general_error(&decide.value().get()));
    view! {
        <Title text="Approvals" />
        <Layout>
            <h1 class="page-title">"Approvals"</h1>
            <p class="lede">"Deploys that wait for a yes: their quota is reserved until someone decides, or the request lapses."</p>
            <ErrorBanner message=general />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(items) if items.is_empty() => view! {
                            <section class="card"><p>"No requests."</p></section>
                        }.into_any(),
                        Ok(items) => view! {
                            <section class="card">
                                <table class="approvals">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Instance"</th>
                                            <th scope="col">"Requested by"</th>
                                            <th scope="col">"Size"</th>
                                            <th scope="col">"State"</th>
                                            <th scope="col">"Decision"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {items.into_iter().map(|a| view! { <ApprovalRow a decide /> }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                        }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}

#[component]
fn ApprovalRow(a: ApprovalView, decide: ServerAction<DecideApproval>) -> impl IntoView {
    let instance = match a.instance_id {
        Some(id) => {
            view! { <a href=format!("/instances/{id}")>{a.instance_name.clone()}</a> }.into_any()
        }
        None => view! { <span>{a.instance_name.clone()}</span> }.into_any(),
    };
    let requester = match &a.department {
        Some(d) => format!("{} ({d})", a.requester),
        None => a.requester.clone(),
    };
    let (class, state) = match a.state {
        ApprovalState::Pending => ("badge busy", "pending"),
        ApprovalState::Approved => ("badge ok", "approved"),
        ApprovalState::Rejected => ("badge bad", "rejected"),
        ApprovalState::Expired => ("badge", "lapsed"),
    };
    let id = a.id;
    let decision = match (a.state, a.may_decide) {
        (ApprovalState::Pending, true) => {
            let comment_id = format!("comment-{id}");
            let label_for = comment_id.clone();
            view! {
                <ActionForm action=decide attr:class="decide">
                    <input type="hidden" name="id" value=id />
                    <label for=label_for class="sr-only">"Comment"</label>
                    <input id=comment_id name="comment" type="text" maxlength="1000"
                        placeholder="Comment (optional)" />
                    <button type="submit" name="verdict" value="approve" class="button primary"
                        disabled=move || decide.pending().get()>"Approve"</button>
                    <button type="submit" name="verdict" value="reject" class="button danger"
                        disabled=move || decide.pending().get()>"Reject"</button>
                </ActionForm>
            }
            .into_any()
        }
        (ApprovalState::Pending, false) => {
            view! { <span class="hint">"waits until " {a.expires_at.clone()}</span> }.into_any()
        }
        (ApprovalState::Approved | ApprovalState::Rejected | ApprovalState::Expired, _) => {
            let by = a
                .decided_by
                .clone()
                .unwrap_or_else(|| "nobody, in time".into());
            let why = match a.comment.as_str() {
                "" => String::new(),
                said => format!(": “{said}”"),
            };
            view! { <span>{by}{why}</span> }.into_any()
        }
    };
    view! {
        <tr>
            <td>{instance}</td>
            <td>{requester}</td>
            <td>{format!("{} ({} vCPU, {} MiB)", a.size, a.vcpus, a.memory_mib)}</td>
            <td><span class=class>{state}</span></td>
            <td>{decision}</td>
        </tr>
    }
}
