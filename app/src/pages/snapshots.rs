//! The instance page's Snapshots section: the list, a form to take one,
//! and Revert and Delete behind a confirmation (a `<details>`, so that it
//! works without JavaScript too). Each action starts a task on the
//! instance, whose progress the page shows at its top.

use leptos::prelude::*;

use crate::api::snapshots::{SnapshotAction, TakeSnapshot, get_snapshots};
use crate::components::{Confirm, ErrorBanner, FieldError, error_for_field, general_error};
use crate::error::AppError;
use crate::model::{SnapshotKind, SnapshotState, SnapshotView, SnapshotsView};

/// The section's data and actions. They belong to the instance's page,
/// not to the section: the page renders its detail (and so this section)
/// anew whenever the instance changes, and a resource made inside would
/// be gone while its last load still ran.
#[derive(Clone, Copy)]
pub struct Snapshots {
    take: ServerAction<TakeSnapshot>,
    act: ServerAction<SnapshotAction>,
    list: Resource<Result<SnapshotsView, AppError>>,
}

impl Snapshots {
    /// The snapshots of the instance `id` names, loaded again after each
    /// action, when the page's task ends (`changed`) and as the live feed
    /// tells of changes.
    pub fn new(id: Signal<i64>, changed: RwSignal<u32>) -> Snapshots {
        let take = ServerAction::<TakeSnapshot>::new();
        let act = ServerAction::<SnapshotAction>::new();
        let live = crate::live::LiveFeed::get();
        let list = Resource::new(
            move || {
                (
                    id.get(),
                    take.version().get(),
                    act.version().get(),
                    changed.get(),
                    live.tick(),
                )
            },
            |(id, ..)| get_snapshots(id),
        );
        Snapshots { take, act, list }
    }
}

/// `enabled`: whether the instance may start a snapshot task now (ready,
/// and no task running).
#[component]
pub fn SnapshotsSection(id: i64, enabled: bool, snapshots: Snapshots) -> impl IntoView {
    let Snapshots {
        take,
        act,
        list: snapshots,
    } = snapshots;
    let name_error = Signal::derive(move || error_for_field(&take.value().get(), "name"));
    let description_error =
        Signal::derive(move || error_for_field(&take.value().get(), "description"));
    let general = Signal::derive(move || {
        general_error(&take.value().get()).or_else(|| general_error(&act.value().get()))
    });
    view! {
        <section class="card" aria-labelledby="snapshots-title" id="snapshots">
            <h2 id="snapshots-title">"Snapshots"</h2>
            <p class="hint" id="snapshots-hint">
                "A snapshot keeps the instance's disk as it is now, and its memory while it runs. "
                "Reverting brings the instance back to it: whatever changed since is lost."
            </p>
            <ErrorBanner message=general />
            <ActionForm action=take attr:class="snapshot-form" attr:novalidate=true>
                <input type="hidden" name="id" value=id />
                <div class="field">
                    <label for="snapshot-name">"Name"</label>
                    <input id="snapshot-name" name="name" type="text" required maxlength="64"
                        placeholder="e.g. before the plugin update"
                        aria-describedby="snapshot-name-error" />
                    <FieldError id="snapshot-name-error".into() message=name_error />
                </div>
                <div class="field">
                    <label for="snapshot-description">"Description (optional)"</label>
                    <textarea id="snapshot-description" name="description" rows="2" maxlength="500"
                        aria-describedby="snapshot-description-error"></textarea>
                    <FieldError id="snapshot-description-error".into() message=description_error />
                </div>
                <button type="submit" class="button primary" id="take-snapshot"
                    disabled=move || !enabled || take.pending().get()>
                    "Take snapshot"
                </button>
            </ActionForm>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match snapshots.await {
                        Ok(view) => {
                            let count = view.snapshots.len();
                            let limit = view.limit;
                            view! {
                                <p class="hint" id="snapshot-count">
                                    {format!("{count} of {limit} snapshots kept.")}
                                </p>
                                {(count > 0).then(|| view! {
                                    <table id="snapshot-list">
                                        <thead><tr>
                                            <th scope="col">"Name"</th>
                                            <th scope="col">"Taken"</th>
                                            <th scope="col">"Size"</th>
                                            <th scope="col">"Memory"</th>
                                            <th scope="col">"State"</th>
                                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                                        </tr></thead>
                                        <tbody>
                                            {view.snapshots.into_iter().map(|s| view! {
                                                <SnapshotRow id snapshot=s enabled act />
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                })}
                            }.into_any()
                        }
                        Err(e) => view! {
                            <div class="banner error" role="alert">{e.to_string()}</div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn SnapshotRow(
    id: i64,
    snapshot: SnapshotView,
    enabled: bool,
    act: ServerAction<SnapshotAction>,
) -> impl IntoView {
    let ready = snapshot.state == SnapshotState::Ready;
    let confirm =
        move |action: &'static str, label: &'static str, warning: String, class: &'static str| {
            let snapshot_id = snapshot.id;
            view! {
                <Confirm key=format!("{action}-snapshot-{snapshot_id}") summary=label class>
                    <p>{warning}</p>
                    <ActionForm action=act attr:class="inline">
                        <input type="hidden" name="id" value=id />
                        <input type="hidden" name="snapshot" value=snapshot_id />
                        <input type="hidden" name="action" value=action />
                        <button type="submit" class=format!("button {class}")
                            disabled=move || !enabled || !ready || act.pending().get()>
                            {label}
                        </button>
                    </ActionForm>
                </Confirm>
            }
        };
    let name = snapshot.name.clone();
    view! {
        <tr>
            <th scope="row">
                {snapshot.name.clone()}
                {(snapshot.kind == SnapshotKind::DiskCopy).then(|| view! {
                    <span class="badge snapshot-kind">"disk copy"</span>
                })}
                {(!snapshot.description.is_empty()).then(|| view! {
                    <span class="hint snapshot-description">{snapshot.description.clone()}</span>
                })}
            </th>
            <td>{taken_at(&snapshot.created_at)}</td>
            <td>{size(snapshot.size_bytes)}</td>
            <td>{if snapshot.with_memory { "yes" } else { "no" }}</td>
            <td><span class=state_class(snapshot.state)>{snapshot.state.as_str()}</span></td>
            <td class="actions">
                {confirm("revert", "Revert", match snapshot.kind {
                    SnapshotKind::Internal => format!(
                        "Bring the instance back to {name}? What changed since is lost."),
                    SnapshotKind::DiskCopy => format!(
                        "Put the disk kept as {name} back? What changed since is lost, and the \
                         snapshots taken since are removed."),
                }, "")}
                {confirm("delete", "Delete",
                    format!("Delete snapshot {}? This cannot be undone.", snapshot.name), "danger")}
            </td>
        </tr>
    }
}

fn state_class(state: SnapshotState) -> &'static str {
    match state {
        SnapshotState::Ready => "badge ok",
        SnapshotState::Creating | SnapshotState::Reverting | SnapshotState::Deleting => {
            "badge busy"
        }
    }
}

/// `2026-12-06T07:01:02Z` as `2026-12-06 07:01 UTC`.
pub(super) fn taken_at(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        (None, _) | (_, None) => rfc3339.to_owned(),
    }
}

/// Bytes in the largest unit that keeps a whole number in front.
pub(super) fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_the_unit_that_fits() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(300 << 20), "300.0 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn a_time_reads_as_date_minutes_and_utc() {
        assert_eq!(taken_at("2026-12-06T07:01:02Z"), "2026-12-06 07:01 UTC");
        assert_eq!(taken_at("soon"), "soon");
    }
}
