//! Persisted tasks and their steps: long work survives a restart, which
//! resumes it (every step is idempotent) or rolls it back.

use app::model::{StepState, TaskKind, TaskState};
use rusqlite::{Connection, OptionalExtension, params};

use super::states::text_column;
use super::{StoreError, now_ms};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRow {
    pub position: i64,
    pub name: String,
    pub state: StepState,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRow {
    pub id: i64,
    pub instance_id: Option<i64>,
    pub instance_uuid: String,
    pub owner_id: i64,
    pub kind: TaskKind,
    pub state: TaskState,
    pub error: Option<String>,
    pub user_data: Option<String>,
    /// A warm deploy's input to the stack's personalize command (JSON).
    pub personalize: Option<String>,
    /// The snapshot a snapshot task takes, reverts to or deletes.
    pub snapshot_id: Option<i64>,
    /// The backup a backup task takes, or a restore reads.
    pub backup_id: Option<i64>,
    /// The hosts a move takes the instance from and to.
    pub source_host_id: Option<i64>,
    pub target_host_id: Option<i64>,
    /// The size a resize started from, which its undo puts back.
    pub resize_from: Option<PriorSize>,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    pub steps: Vec<StepRow>,
}

/// An instance's size before a resize (the instance's record holds the
/// new one from admission on, so that its quota is taken at once).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PriorSize {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

/// Starts a task; `Duplicate` when the instance already has a running one.
pub fn insert(
    conn: &Connection,
    instance_id: i64,
    instance_uuid: &str,
    owner_id: i64,
    kind: TaskKind,
    steps: &[&str],
    user_data: Option<&str>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO tasks (instance_id, instance_uuid, owner_id, kind, state, user_data, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?7, ?5, ?6)",
        params![
            instance_id,
            instance_uuid,
            owner_id,
            kind.as_str(),
            user_data,
            now_ms(),
            TaskState::Running.as_str()
        ],
    )
    .map_err(|e| StoreError::unique_as(e, "a running task for this instance"))?;
    let id = conn.last_insert_rowid();
    for (position, name) in steps.iter().enumerate() {
        conn.execute(
            "INSERT INTO task_steps (task_id, position, name, state) VALUES (?1, ?2, ?3, ?4)",
            params![id, position as i64, name, StepState::Pending.as_str()],
        )?;
    }
    Ok(id)
}

/// Records the size a resize task starts from.
pub fn set_resize_from(conn: &Connection, task: i64, from: &PriorSize) -> Result<(), StoreError> {
    let json = serde_json::to_string(from)
        .map_err(|e| StoreError::Corrupt(format!("a size as JSON: {e}")))?;
    conn.execute(
        "UPDATE tasks SET resize_from = ?2 WHERE id = ?1",
        params![task, json],
    )?;
    Ok(())
}

/// Gives a warm deploy's task what its personalize step sends the guest.
pub fn set_personalize(conn: &Connection, task: i64, json: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tasks SET personalize = ?2 WHERE id = ?1",
        params![task, json],
    )?;
    Ok(())
}

/// Names the backup a backup or restore task works on.
pub fn set_backup(conn: &Connection, task: i64, backup_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tasks SET backup_id = ?2 WHERE id = ?1",
        params![task, backup_id],
    )?;
    Ok(())
}

/// Names the hosts a move task takes its instance from and to.
pub fn set_move(conn: &Connection, task: i64, from: i64, to: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tasks SET source_host_id = ?2, target_host_id = ?3 WHERE id = ?1",
        params![task, from, to],
    )?;
    Ok(())
}

/// Names the snapshot a snapshot task works on.
pub fn set_snapshot(conn: &Connection, task: i64, snapshot_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tasks SET snapshot_id = ?2 WHERE id = ?1",
        params![task, snapshot_id],
    )?;
    Ok(())
}

/// Adds pending steps after the task's last: a warm deploy whose claim
/// failed goes on as a cold one.
pub fn append_steps(conn: &Connection, task: i64, steps: &[&str]) -> Result<(), StoreError> {
    let next: i64 = conn
        .prepare_cached("SELECT coalesce(max(position) + 1, 0) FROM task_steps WHERE task_id = ?1")?
        .query_row([task], |r| r.get(0))?;
    for (offset, name) in steps.iter().enumerate() {
        conn.execute(
            "INSERT INTO task_steps (task_id, position, name, state) VALUES (?1, ?2, ?3, ?4)",
            params![
                task,
                next + offset as i64,
                name,
                StepState::Pending.as_str()
            ],
        )?;
    }
    Ok(())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<TaskRow>, StoreError> {
    let task = conn
        .prepare_cached(
            "SELECT id, instance_id, instance_uuid, owner_id, kind, state, error, user_data,
                    created_ms, finished_ms, personalize, snapshot_id, backup_id, source_host_id,
                    target_host_id, resize_from
             FROM tasks WHERE id = ?1",
        )?
        .query_row([id], |r| {
            let task = TaskRow {
                id: r.get(0)?,
                instance_id: r.get(1)?,
                instance_uuid: r.get(2)?,
                owner_id: r.get(3)?,
                kind: text_column(r, 4)?,
                state: text_column(r, 5)?,
                error: r.get(6)?,
                user_data: r.get(7)?,
                created_ms: r.get(8)?,
                finished_ms: r.get(9)?,
                personalize: r.get(10)?,
                snapshot_id: r.get(11)?,
                backup_id: r.get(12)?,
                source_host_id: r.get(13)?,
                target_host_id: r.get(14)?,
                resize_from: None,
                steps: Vec::new(),
            };
            Ok((task, r.get::<_, Option<String>>(15)?))
        })
        .optional()?;
    let Some((mut task, resize_from)) = task else {
        return Ok(None);
    };
    task.resize_from = resize_from
        .map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("the size task {id} resizes from: {e}")))
        })
        .transpose()?;
    let mut stmt = conn.prepare_cached(
        "SELECT position, name, state, started_ms, finished_ms FROM task_steps
         WHERE task_id = ?1 ORDER BY position",
    )?;
    task.steps = stmt
        .query_map([id], |r| {
            Ok(StepRow {
                position: r.get(0)?,
                name: r.get(1)?,
                state: text_column(r, 2)?,
                started_ms: r.get(3)?,
                finished_ms: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(task))
}

/// Ids of the tasks a crash may have cut off. The state is written into
/// the SQL, not bound, so that SQLite can use the partial index
/// `one_running_task_per_instance`, made with that very predicate.
pub fn running(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id FROM tasks WHERE state = '{}' ORDER BY id",
        TaskState::Running.as_str()
    ))?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether a move away from host `host_id` is still running. The
/// instance's own record names its new host as soon as the guest has
/// moved, while the task still removes the old copy; a drain waits for
/// the whole task, not only for the guest.
pub fn moving_from(conn: &Connection, host_id: i64) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT EXISTS (SELECT 1 FROM tasks
                         WHERE state = '{}' AND kind = '{}' AND source_host_id = ?1)",
        TaskState::Running.as_str(),
        TaskKind::Move.as_str()
    ))?;
    Ok(stmt.query_row([host_id], |r| r.get(0))?)
}

pub fn set_step(
    conn: &Connection,
    task: i64,
    position: i64,
    state: StepState,
) -> Result<(), StoreError> {
    let now = now_ms();
    conn.execute(
        "UPDATE task_steps SET state = ?3,
            started_ms = CASE WHEN ?4 THEN ?6 ELSE started_ms END,
            finished_ms = CASE WHEN ?5 THEN ?6 ELSE finished_ms END
         WHERE task_id = ?1 AND position = ?2",
        params![
            task,
            position,
            state.as_str(),
            state.starts(),
            state.finishes(),
            now
        ],
    )?;
    Ok(())
}

pub fn finish(conn: &Connection, task: i64, error: Option<&str>) -> Result<(), StoreError> {
    let state = if error.is_some() {
        TaskState::Failed
    } else {
        TaskState::Succeeded
    };
    conn.execute(
        "UPDATE tasks SET state = ?2, error = ?3, finished_ms = ?4, user_data = NULL,
                          personalize = NULL
         WHERE id = ?1",
        params![task, state.as_str(), error, now_ms()],
    )?;
    Ok(())
}
