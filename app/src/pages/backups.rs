//! Backups in the portal: the instance page's Backups section (back up
//! now, the restore points with their size and state, Restore into a new
//! instance and Verify behind a `<details>`, so that they work without
//! JavaScript too), and the Backups page: every backup one may see,
//! failed and damaged ones first, with the backup store's free space for
//! admins.

use leptos::prelude::*;
use leptos_meta::Title;

use super::snapshots::{size, taken_at};
use crate::api::backups::{
    DrillBackup, RestoreBackup, RestoreInPlace, SetBackupStore, StartBackup, VerifyBackup,
    get_all_backups, get_instance_backups,
};
use crate::components::{
    Confirm, ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error,
};
use crate::error::AppError;
use crate::model::{
    BackupFrequency, BackupKind, BackupState, BackupStoreSpec, BackupView, BackupsView, DrillState,
    DrillView,
};

/// The section's data and actions, owned by the instance's page (as
/// [`super::snapshots::Snapshots`] is, for the same reason).
#[derive(Clone, Copy)]
pub struct Backups {
    start: ServerAction<StartBackup>,
    restore: ServerAction<RestoreBackup>,
    restore_over: ServerAction<RestoreInPlace>,
    verify: ServerAction<VerifyBackup>,
    drill: ServerAction<DrillBackup>,
    list: Resource<Result<BackupsView, AppError>>,
}

impl Backups {
    pub fn new(id: Signal<i64>, changed: RwSignal<u32>) -> Backups {
        let start = ServerAction::<StartBackup>::new();
        let restore = ServerAction::<RestoreBackup>::new();
        let restore_over = ServerAction::<RestoreInPlace>::new();
        let verify = ServerAction::<VerifyBackup>::new();
        let drill = ServerAction::<DrillBackup>::new();
        let live = crate::live::LiveFeed::get();
        let list = Resource::new(
            move || {
                (
                    id.get(),
                    start.version().get(),
                    restore_over.version().get(),
                    verify.version().get(),
                    drill.version().get(),
                    changed.get(),
                    live.tick(),
                )
            },
            |(id, ..)| get_instance_backups(id),
        );
        Backups {
            start,
            restore,
            restore_over,
            verify,
            drill,
            list,
        }
    }
}

/// `enabled`: whether the instance may start a backup now (ready, and no
/// task running).
#[component]
pub fn BackupsSection(id: i64, enabled: bool, backups: Backups) -> impl IntoView {
    let Backups {
        start,
        restore,
        restore_over,
        verify,
        drill,
        list,
    } = backups;
    let over = Over {
        instance: id,
        enabled,
        action: restore_over,
    };
    let general = Signal::derive(move || {
        general_error(&start.value().get())
            .or_else(|| general_error(&restore.value().get()))
            .or_else(|| general_error(&restore_over.value().get()))
            .or_else(|| general_error(&verify.value().get()))
            .or_else(|| general_error(&drill.value().get()))
    });
    let name_error = Signal::derive(move || error_for_field(&restore.value().get(), "name"));
    view! {
        <section class="card" aria-labelledby="backups-title" id="backups">
            <h2 id="backups-title">"Backups"</h2>
            <p class="hint">
                "A backup copies the instance's disk to the backup store: the first one whole, "
                "each after it only what changed. Restoring makes a new instance from any of them, "
                "or puts one back over this instance; backups stay when the instance is deleted."
            </p>
            <ErrorBanner message=general />
            <FieldError id="restore-name-error".into() message=name_error />
            <ActionForm action=start attr:class="inline">
                <input type="hidden" name="id" value=id />
                <button type="submit" class="button primary" id="start-backup"
                    disabled=move || !enabled || start.pending().get()>
                    "Back up now"
                </button>
            </ActionForm>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(view) => {
                            let policy = view.policy.map(|p| match p.frequency {
                                BackupFrequency::Off => "Scheduled backups are off for this instance.".to_owned(),
                                BackupFrequency::Daily | BackupFrequency::Weekly => format!(
                                    "Backed up {} at {:02}:00 UTC; the newest {} restore points are kept.",
                                    p.frequency, p.hour, p.keep
                                ),
                            });
                            view! {
                                {policy.map(|p| view! { <p class="hint" id="backup-policy">{p}</p> })}
                                {(!view.backups.is_empty()).then(|| view! {
                                    <BackupTable backups=view.backups restore verify drill over />
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

/// On an instance's page: its backups may be restored over it, while
/// `enabled` (ready, and no task running).
#[derive(Clone, Copy)]
struct Over {
    instance: i64,
    enabled: bool,
    action: ServerAction<RestoreInPlace>,
}

#[component]
fn BackupTable(
    backups: Vec<BackupView>,
    restore: ServerAction<RestoreBackup>,
    verify: ServerAction<VerifyBackup>,
    drill: ServerAction<DrillBackup>,
    #[prop(optional)] over: Option<Over>,
) -> impl IntoView {
    view! {
        <table id="backup-list">
            <thead><tr>
                <th scope="col">"Taken"</th>
                <th scope="col">"Instance"</th>
                <th scope="col">"Kind"</th>
                <th scope="col">"Size"</th>
                <th scope="col">"State"</th>
                <th scope="col"><span class="sr-only">"Actions"</span></th>
            </tr></thead>
            <tbody>
                {backups.into_iter().map(|b| view! { <BackupRow backup=b restore verify drill over /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn BackupRow(
    backup: BackupView,
    restore: ServerAction<RestoreBackup>,
    verify: ServerAction<VerifyBackup>,
    drill: ServerAction<DrillBackup>,
    over: Option<Over>,
) -> impl IntoView {
    let restorable = backup.state == BackupState::Ready && !backup.damaged;
    let backup_id = backup.id;
    let (state_text, state_class) = match (backup.state, backup.damaged) {
        (BackupState::Ready | BackupState::Running | BackupState::Failed, true) => {
            ("damaged", "badge bad")
        }
        (BackupState::Ready, false) => ("ready", "badge ok"),
        (BackupState::Running, false) => ("running", "badge busy"),
        (BackupState::Failed, false) => ("failed", "badge bad"),
    };
    let kind = match backup.kind {
        BackupKind::Full => "full",
        BackupKind::Incremental => "incremental",
    };
    let drilling = backup
        .drill
        .as_ref()
        .is_some_and(|d| d.state == DrillState::Running);
    let suggested = format!("{}-restored", backup.instance_name);
    let note = backup.error.clone().or(backup.reason.clone());
    view! {
        <tr class="backup-row" data-backup=backup_id>
            <td>{taken_at(&backup.created_at)}</td>
            <td>{match backup.instance_id {
                Some(instance) => view! {
                    <a href=format!("/instances/{instance}")>{backup.instance_name.clone()}</a>
                }.into_any(),
                None => view! {
                    <span>{backup.instance_name.clone()}" (deleted)"</span>
                }.into_any(),
            }}</td>
            <td>{kind}</td>
            <td>{if backup.state == BackupState::Ready { size(backup.size_bytes) } else { "—".into() }}</td>
            <td>
                <span class=state_class>{state_text}</span>
                {note.map(|n| view! { <span class="hint backup-note">{n}</span> })}
                {drill_line(backup.drill.as_ref())}
            </td>
            <td class="actions">
                <Confirm key=format!("restore-backup-{backup_id}") summary="Restore" form=true>
                    <p>"Make a new instance from this backup, as it was when it was taken."</p>
                    <ActionForm action=restore attr:class="inline">
                        <input type="hidden" name="backup" value=backup_id />
                        <label for=format!("restore-name-{backup_id}")>"New instance's name"</label>
                        <input id=format!("restore-name-{backup_id}") name="name" type="text"
                            required maxlength="63" value=suggested
                            aria-describedby="restore-name-error" />
                        <button type="submit" class="button primary"
                            disabled=move || !restorable || restore.pending().get()>
                            "Restore"
                        </button>
                    </ActionForm>
                </Confirm>
                {over.filter(|o| backup.instance_id == Some(o.instance)).map(|o| view! {
                    <Confirm key=format!("restore-over-{backup_id}") summary="Restore over" class="danger">
                        <p>
                            "Put this backup back over the instance: it is shut down, its disk is "
                            "replaced, and it starts again. Its disk as it is now is kept as a "
                            "snapshot to go back to; its other snapshots are removed (they live "
                            "in that disk)."
                        </p>
                        <ActionForm action=o.action attr:class="inline">
                            <input type="hidden" name="id" value=o.instance />
                            <input type="hidden" name="backup" value=backup_id />
                            <button type="submit" class="button danger"
                                disabled=move || !restorable || !o.enabled || o.action.pending().get()>
                                "Restore over"
                            </button>
                        </ActionForm>
                    </Confirm>
                })}
                <ActionForm action=drill attr:class="inline">
                    <input type="hidden" name="backup" value=backup_id />
                    <button type="submit" class="button" title="Restore it into a throwaway guest, check the application, and remove the guest"
                        disabled=move || !restorable || drilling || drill.pending().get()>
                        "Test restore"
                    </button>
                </ActionForm>
                <ActionForm action=verify attr:class="inline">
                    <input type="hidden" name="backup" value=backup_id />
                    <button type="submit" class="button"
                        disabled=move || backup.state != BackupState::Ready || verify.pending().get()>
                        "Verify"
                    </button>
                </ActionForm>
            </td>
        </tr>
    }
}

/// How the backup's last restore drill went.
fn drill_line(drill: Option<&DrillView>) -> Option<impl IntoView + use<>> {
    let drill = drill?;
    let (class, text) = match drill.state {
        DrillState::Running => ("hint drill busy", "testing a restore…".to_owned()),
        DrillState::Passed => (
            "hint drill ok",
            format!("restore tested {}", taken_at(&drill.at)),
        ),
        DrillState::Failed => (
            "hint drill bad",
            format!(
                "restore test failed {}: {}",
                taken_at(&drill.at),
                drill.note.clone().unwrap_or_default()
            ),
        ),
    };
    Some(view! { <span class=class>{text}</span> })
}

fn store_place(spec: &BackupStoreSpec) -> String {
    match spec {
        BackupStoreSpec::Local => "beside each host's storage directory (the default)".into(),
        BackupStoreSpec::Directory { path } => format!("the directory {path} on each host"),
        BackupStoreSpec::Nfs { server, export } => format!("the NFS export {server}:{export}"),
    }
}

/// Where new backups go: an admin's choice. Earlier backups stay where
/// they are.
#[component]
fn StoreForm(spec: BackupStoreSpec, action: ServerAction<SetBackupStore>) -> impl IntoView {
    let result = action.value();
    let error =
        move |field: &'static str| Signal::derive(move || error_for_field(&result.get(), field));
    let (kind, path, server, export) = match &spec {
        BackupStoreSpec::Local => ("local", String::new(), String::new(), String::new()),
        BackupStoreSpec::Directory { path } => {
            ("directory", path.clone(), String::new(), String::new())
        }
        BackupStoreSpec::Nfs { server, export } => {
            ("nfs", String::new(), server.clone(), export.clone())
        }
    };
    view! {
        <Confirm key="backup-store" summary="Change the store" form=true>
            <p>
                "New backups go to the store chosen here, on every host, which must be able to "
                "use it first; earlier backups stay where they are and restore from there. The "
                "first backup of each instance in a new store is a full one."
            </p>
            <ActionForm action=action attr:class="store-form" attr:novalidate=true>
                <label for="store-kind">"Store"</label>
                <select id="store-kind" name="kind" aria-describedby="store-kind-error">
                    <option value="local" selected=kind == "local">"Beside each host's storage directory"</option>
                    <option value="directory" selected=kind == "directory">"A directory on each host"</option>
                    <option value="nfs" selected=kind == "nfs">"An NFS export (copies off the hosts)"</option>
                </select>
                <FieldError id="store-kind-error".into() message=error("kind") />
                <label for="store-path">"Directory (for a directory)"</label>
                <input id="store-path" name="path" type="text" value=path placeholder="/srv/dpe-backups"
                    aria-describedby="store-path-error" />
                <FieldError id="store-path-error".into() message=error("path") />
                <label for="store-server">"NFS server (for NFS)"</label>
                <input id="store-server" name="server" type="text" value=server placeholder="nas.example.org"
                    aria-describedby="store-server-error" />
                <FieldError id="store-server-error".into() message=error("server") />
                <label for="store-export">"Export (for NFS)"</label>
                <input id="store-export" name="export" type="text" value=export placeholder="/export/dpe"
                    aria-describedby="store-export-error" />
                <FieldError id="store-export-error".into() message=error("export") />
                <button type="submit" class="button primary" disabled=move || action.pending().get()>
                    "Use this store"
                </button>
            </ActionForm>
        </Confirm>
    }
}

/// Every backup the signed-in account may see: failed and damaged first.
#[component]
pub fn BackupsPage() -> impl IntoView {
    let restore = ServerAction::<RestoreBackup>::new();
    let verify = ServerAction::<VerifyBackup>::new();
    let drill = ServerAction::<DrillBackup>::new();
    let choose = ServerAction::<SetBackupStore>::new();
    // Reloaded when a store is chosen, not when one is refused: the form
    // keeps what was typed, beside what is wrong with it.
    let chosen = Memo::new(move |_| choose.value().get().and_then(Result::ok));
    let live = crate::live::LiveFeed::get();
    let all = Resource::new(
        move || {
            (
                verify.version().get(),
                drill.version().get(),
                chosen.get(),
                live.tick(),
            )
        },
        |_| get_all_backups(),
    );
    let general = Signal::derive(move || {
        general_error(&restore.value().get())
            .or_else(|| general_error(&verify.value().get()))
            .or_else(|| general_error(&drill.value().get()))
            .or_else(|| general_error(&choose.value().get()))
    });
    view! {
        <Title text="Backups" />
        <Layout>
            <h1 class="page-title">"Backups"</h1>
            <p class="lede">"Every backup you may restore, those of deleted instances too. Failed and damaged ones come first."</p>
            <ErrorBanner message=general />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match all.await {
                        Ok((backups, store)) => view! {
                            {store.map(|s| view! {
                                <section class="card" id="backup-store">
                                    <h2>"Backup store"</h2>
                                    <dl class="facts">
                                        <dt>"Where"</dt><dd>{store_place(&s.spec)}</dd>
                                        <dt>"Directory"</dt><dd>{s.dir}</dd>
                                        <dt>"Backups take"</dt><dd>{size(s.used_bytes)}</dd>
                                        <dt>"Free"</dt>
                                        <dd>{match (s.free_bytes, s.capacity_bytes) {
                                            (Some(free), Some(total)) => format!("{} of {}", size(free), size(total)),
                                            (Some(free), None) => size(free),
                                            (None, _) => "the host does not answer".into(),
                                        }}</dd>
                                    </dl>
                                    <StoreForm spec=s.spec action=choose />
                                </section>
                            })}
                            <section class="card">
                                {if backups.is_empty() {
                                    view! { <p>"No backups yet. An instance's page has Back up now."</p> }.into_any()
                                } else {
                                    view! { <BackupTable backups restore verify drill /> }.into_any()
                                }}
                            </section>
                        }.into_any(),
                        Err(e) => view! {
                            <div class="banner error" role="alert">{e.to_string()}</div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}
