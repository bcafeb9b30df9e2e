//! The states things are in, as enums: an instance's lifecycle, power and
//! health, a task's and a step's progress, an audit record's outcome, an
//! account's source and a stack parameter's kind.
//!
//! Each enum's text, in JSON and in the store's TEXT columns alike, is
//! written once, in its [`text_enum!`] table below: serde's `rename`, the
//! OpenAPI schema, [`as_str`](InstanceStatus::as_str) and `FromStr` are all
//! generated from it, so they cannot drift apart, and the texts are those
//! the strings had before (the REST API and existing stores depend on
//! them). Code matches on the variants, exhaustively, so a new state is a
//! compile error wherever it needs a decision.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Text that names no variant of the enum it was parsed as: in the store,
/// a sign of corruption; in a query, a bad request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {text:?}")]
pub struct UnknownState {
    /// The enum, e.g. `TaskState`.
    pub what: &'static str,
    pub text: String,
}

/// Declares a C-like enum and its text, one line per variant, and derives
/// from that one table the serde names, the OpenAPI schema, `as_str`,
/// `FromStr`, `Display` and `ALL`. The text is a `tt`, not a `literal`:
/// a `literal` reaches the derives wrapped in an invisible group, which
/// utoipa does not look into (its schema would list the variant names).
/// Every path in it is absolute, so that the enums beside the structs
/// they belong to (`crate::model`'s `Role`, for one) use it too.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:tt, )+
        }
    ) => {
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[cfg_attr(feature = "ssr", derive(::utoipa::ToSchema))]
        $(#[$meta])*
        pub enum $name {
            $( $(#[$variant_meta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored and sent for it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::model::UnknownState;

            fn from_str(text: &str) -> Result<Self, $crate::model::UnknownState> {
                match text {
                    $( $text => Ok($name::$variant), )+
                    other => Err($crate::model::UnknownState {
                        what: stringify!($name),
                        text: other.to_owned(),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                // `pad` honours width and alignment, for tables.
                f.pad(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum! {
    /// Where an instance is in its life, as dpe records it (the power
    /// state is libvirt's, in [`Power`]).
    pub enum InstanceStatus {
        /// Its deploy task is running.
        Provisioning = "provisioning",
        /// Deployed: its domain exists and follows its power state.
        Ready = "ready",
        /// Its deploy was rolled back, or its delete failed.
        Failed = "failed",
        /// Its delete task is running.
        Deleting = "deleting",
    }
}

impl InstanceStatus {
    /// Whether an instance in this status may be recorded in `next`: the
    /// lifecycle's one table, which the store checks on every write of
    /// the status. It allows what the engine does and nothing else: a
    /// deploy ends ready or failed, a delete starts from ready or failed,
    /// and a failed delete leaves the instance failed, to be deleted again
    /// (a delete that succeeds removes the row). Staying put is allowed:
    /// a deploy resumed after a restart records `Ready` again, and of two
    /// deletes that race, the second writes `Deleting` again before its
    /// task is refused as a duplicate (the caller's "busy").
    pub fn may_become(self, next: InstanceStatus) -> bool {
        use InstanceStatus::{Deleting, Failed, Provisioning, Ready};
        match (self, next) {
            (Provisioning, Provisioning)
            | (Ready, Ready)
            | (Failed, Failed)
            | (Deleting, Deleting)
            | (Provisioning, Ready | Failed)
            | (Ready | Failed, Deleting)
            | (Deleting, Failed) => true,
            // Nothing goes back to provisioning (a new deploy is a new
            // instance), a ready one fails only through its delete, a
            // failed one is only deleted, and a delete under way is not
            // undone into a ready instance; nor is a deploy under way
            // deleted (its task holds the instance).
            (Ready | Failed | Deleting, Provisioning)
            | (Ready, Failed)
            | (Failed | Deleting, Ready)
            | (Provisioning, Deleting) => false,
        }
    }
}

text_enum! {
    /// A domain's power state, as libvirt reports it.
    pub enum Power {
        Running = "running",
        Paused = "paused",
        ShuttingDown = "shutting_down",
        ShutOff = "shut_off",
        Crashed = "crashed",
        /// Defined but never seen by the reconciler yet, or the host is away.
        Unknown = "unknown",
    }
}

impl Power {
    /// Reads a stored power state. The column has no CHECK and only mirrors
    /// libvirt, which the reconciler asks again every few seconds, so text
    /// it does not know reads as `Unknown` rather than as corruption.
    pub fn parse(text: &str) -> Power {
        text.parse().unwrap_or(Power::Unknown)
    }
}

text_enum! {
    /// The application's health check, run by the reconciler on a running
    /// instance. Named `InstanceHealth` in the API's schema: `Health` is
    /// the server's liveness answer there.
    #[cfg_attr(feature = "ssr", schema(as = InstanceHealth))]
    pub enum Health {
        /// Not checked: not running, or not looked at yet.
        Unknown = "unknown",
        /// Running, but the application has never answered yet.
        Starting = "starting",
        /// The application answers as its stack expects.
        Healthy = "healthy",
        /// It answered once and has stopped.
        Unhealthy = "unhealthy",
    }
}

impl Health {
    /// Whether the check has come to a verdict, good or bad; a page showing
    /// a running instance keeps looking until it has.
    pub fn is_settled(self) -> bool {
        match self {
            Health::Healthy | Health::Unhealthy => true,
            Health::Unknown | Health::Starting => false,
        }
    }
}

text_enum! {
    /// How a task stands.
    pub enum TaskState {
        Running = "running",
        Succeeded = "succeeded",
        /// It failed; a failed deploy has been rolled back.
        Failed = "failed",
    }
}

impl TaskState {
    /// Whether it has ended, so that nothing more will change.
    pub fn has_ended(self) -> bool {
        match self {
            TaskState::Running => false,
            TaskState::Succeeded | TaskState::Failed => true,
        }
    }
}

text_enum! {
    /// Where a warm-pool member is: guests booted ahead of time, which a
    /// deploy claims and personalizes in place.
    pub enum PoolState {
        /// Being built, or booting until its guest agent says it is ready.
        Booting = "booting",
        /// Waiting for a deploy.
        Ready = "ready",
        /// Taken by a deploy, which is personalizing it.
        Claiming = "claiming",
        /// Being destroyed: its image is outdated, or it is over the target.
        Recycling = "recycling",
    }
}

text_enum! {
    /// How one step of a task stands.
    pub enum StepState {
        Pending = "pending",
        Running = "running",
        Done = "done",
        Failed = "failed",
        /// Rolled back after a later step failed.
        Undone = "undone",
    }
}

impl StepState {
    /// Whether entering this state starts the step's clock.
    pub fn starts(self) -> bool {
        match self {
            StepState::Running => true,
            StepState::Pending | StepState::Done | StepState::Failed | StepState::Undone => false,
        }
    }

    /// Whether entering this state stops the step's clock.
    pub fn finishes(self) -> bool {
        match self {
            StepState::Done | StepState::Failed | StepState::Undone => true,
            StepState::Pending | StepState::Running => false,
        }
    }

    /// Whether it is the step a task is at: the one running, or the one
    /// that failed.
    pub fn is_current(self) -> bool {
        match self {
            StepState::Running | StepState::Failed => true,
            StepState::Pending | StepState::Done | StepState::Undone => false,
        }
    }
}

text_enum! {
    /// How what an audit record tells of ended.
    pub enum AuditOutcome {
        /// It was done.
        Ok = "ok",
        /// A rule said no (a throttle, a quota, a permission).
        Refused = "refused",
        /// It was tried and did not work (a wrong password or setup code).
        Failed = "failed",
    }
}

text_enum! {
    /// Where an account comes from, and so who checks its password.
    pub enum AccountSource {
        /// Made here; its password hash is in the store.
        Local = "local",
        /// Made at its first sign-in from the LDAP directory, which checks
        /// its password and sets its department and role.
        Directory = "directory",
    }
}

text_enum! {
    /// What a stack parameter holds, which decides how it is checked and
    /// how the deploy form asks for it.
    pub enum ParamKind {
        Text = "text",
        Username = "username",
        Email = "email",
        /// Never stored; the user-data sees only `${NAME_hash}`, a bcrypt hash.
        Password = "password",
    }
}

/// What the portal and the API call an instance's state: its lifecycle
/// while it is not ready, and once it is, its power state. Derived by
/// [`InstanceState::of`] from the two, which are stored apart; it
/// travels as one string (`provisioning`, `failed`, `deleting`, or a
/// [`Power`] text such as `running` or `shut_off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InstanceState {
    Provisioning,
    Failed,
    Deleting,
    /// Ready, with what libvirt says of its domain.
    Ready(Power),
}

impl InstanceState {
    /// The state shown for an instance with lifecycle `status` whose
    /// domain is in `power`.
    pub fn of(status: InstanceStatus, power: Power) -> InstanceState {
        match status {
            InstanceStatus::Provisioning => InstanceState::Provisioning,
            InstanceStatus::Failed => InstanceState::Failed,
            InstanceStatus::Deleting => InstanceState::Deleting,
            InstanceStatus::Ready => InstanceState::Ready(power),
        }
    }

    /// The lifecycle status it comes from.
    pub fn status(self) -> InstanceStatus {
        match self {
            InstanceState::Provisioning => InstanceStatus::Provisioning,
            InstanceState::Failed => InstanceStatus::Failed,
            InstanceState::Deleting => InstanceStatus::Deleting,
            InstanceState::Ready(_) => InstanceStatus::Ready,
        }
    }

    /// The text sent for it: the status's, or once ready the power's.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Ready(power) => power.as_str(),
            InstanceState::Provisioning | InstanceState::Failed | InstanceState::Deleting => {
                self.status().as_str()
            }
        }
    }
}

impl FromStr for InstanceState {
    type Err = UnknownState;

    /// The inverse of [`InstanceState::as_str`]. The two vocabularies share
    /// no word, and `ready` is never sent (a ready instance shows its power).
    fn from_str(text: &str) -> Result<Self, UnknownState> {
        let status = text.parse::<InstanceStatus>().ok();
        match status {
            Some(InstanceStatus::Provisioning) => Ok(InstanceState::Provisioning),
            Some(InstanceStatus::Failed) => Ok(InstanceState::Failed),
            Some(InstanceStatus::Deleting) => Ok(InstanceState::Deleting),
            Some(InstanceStatus::Ready) | None => match text.parse::<Power>() {
                Ok(power) => Ok(InstanceState::Ready(power)),
                Err(_) => Err(UnknownState {
                    what: "InstanceState",
                    text: text.to_owned(),
                }),
            },
        }
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for InstanceState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InstanceState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NetworkZone, Role, TaskKind};

    /// Every variant's JSON is its stored text, and both read back.
    fn round_trips<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + fmt::Debug + PartialEq + Serialize + FromStr + for<'de> Deserialize<'de>,
    {
        for &state in all {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, as_str(state), "{state:?}");
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), state);
            assert!(as_str(state).parse::<T>().ok() == Some(state), "{state:?}");
        }
    }

    #[test]
    fn every_state_is_sent_and_stored_as_the_same_text() {
        round_trips(InstanceStatus::ALL, InstanceStatus::as_str);
        round_trips(Power::ALL, Power::as_str);
        round_trips(Health::ALL, Health::as_str);
        round_trips(TaskState::ALL, TaskState::as_str);
        round_trips(StepState::ALL, StepState::as_str);
        round_trips(AuditOutcome::ALL, AuditOutcome::as_str);
        round_trips(AccountSource::ALL, AccountSource::as_str);
        round_trips(ParamKind::ALL, ParamKind::as_str);
        round_trips(Role::ALL, Role::as_str);
        round_trips(TaskKind::ALL, TaskKind::as_str);
        round_trips(NetworkZone::ALL, NetworkZone::as_str);
        round_trips(SnapshotState::ALL, SnapshotState::as_str);
        round_trips(SnapshotKind::ALL, SnapshotKind::as_str);
        round_trips(DrillState::ALL, DrillState::as_str);
        round_trips(BackupState::ALL, BackupState::as_str);
        round_trips(BackupKind::ALL, BackupKind::as_str);
        round_trips(BackupFrequency::ALL, BackupFrequency::as_str);
        round_trips(
            crate::model::LeftoverKind::ALL,
            crate::model::LeftoverKind::as_str,
        );
    }

    fn texts<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|&state| as_str(state)).collect()
    }

    #[test]
    fn the_texts_are_those_the_api_and_stores_already_use() {
        let status = texts(InstanceStatus::ALL, InstanceStatus::as_str);
        assert_eq!(status, ["provisioning", "ready", "failed", "deleting"]);
        let health = texts(Health::ALL, Health::as_str);
        assert_eq!(health, ["unknown", "starting", "healthy", "unhealthy"]);
        let task = texts(TaskState::ALL, TaskState::as_str);
        assert_eq!(task, ["running", "succeeded", "failed"]);
        let step = texts(StepState::ALL, StepState::as_str);
        assert_eq!(step, ["pending", "running", "done", "failed", "undone"]);
        let outcome = texts(AuditOutcome::ALL, AuditOutcome::as_str);
        assert_eq!(outcome, ["ok", "refused", "failed"]);
        let source = texts(AccountSource::ALL, AccountSource::as_str);
        assert_eq!(source, ["local", "directory"]);
        let kind = texts(ParamKind::ALL, ParamKind::as_str);
        assert_eq!(kind, ["text", "username", "email", "password"]);
        let role = texts(Role::ALL, Role::as_str);
        assert_eq!(role, ["admin", "department_admin", "user"]);
        let task_kind = texts(TaskKind::ALL, TaskKind::as_str);
        assert_eq!(
            task_kind,
            [
                "deploy",
                "start",
                "shutdown",
                "reboot",
                "poweroff",
                "delete",
                "snapshot",
                "revert",
                "delete_snapshot",
                "backup",
                "restore",
                "restore_in_place",
                "move",
                "resize"
            ]
        );
        let zone = texts(NetworkZone::ALL, NetworkZone::as_str);
        assert_eq!(zone, ["inside", "outside"]);
        // The hosts' `mode` CHECK (migration 28).
        let host_mode = texts(crate::model::HostMode::ALL, crate::model::HostMode::as_str);
        assert_eq!(host_mode, ["active", "draining"]);
        let snapshot = texts(SnapshotState::ALL, SnapshotState::as_str);
        assert_eq!(snapshot, ["creating", "ready", "reverting", "deleting"]);
        let snapshot_kind = texts(SnapshotKind::ALL, SnapshotKind::as_str);
        assert_eq!(snapshot_kind, ["internal", "disk_copy"]);
        let drill = texts(DrillState::ALL, DrillState::as_str);
        assert_eq!(drill, ["running", "passed", "failed"]);
        let backup = texts(BackupState::ALL, BackupState::as_str);
        assert_eq!(backup, ["running", "ready", "failed"]);
        let kind = texts(BackupKind::ALL, BackupKind::as_str);
        assert_eq!(kind, ["full", "incremental"]);
        let frequency = texts(BackupFrequency::ALL, BackupFrequency::as_str);
        assert_eq!(frequency, ["off", "daily", "weekly"]);
    }

    #[test]
    fn unknown_text_is_an_error_not_a_default() {
        let e = "sleeping".parse::<TaskState>().unwrap_err();
        assert_eq!(e.to_string(), r#"unknown TaskState "sleeping""#);
        assert!("Running".parse::<StepState>().is_err(), "case matters");
        assert!(serde_json::from_str::<AuditOutcome>(r#""maybe""#).is_err());
        assert_eq!(Power::parse("sleeping"), Power::Unknown, "power is lenient");
    }

    #[test]
    fn an_instance_status_changes_only_as_the_engine_changes_it() {
        use InstanceStatus::{Deleting, Failed, Provisioning, Ready};
        let allowed = [
            // Repeated writes: a resumed deploy, two racing deletes, the
            // bench seed (dev::seed) keeping a new instance provisioning.
            (Provisioning, Provisioning),
            (Ready, Ready),
            (Failed, Failed),
            (Deleting, Deleting),
            // A deploy ends.
            (Provisioning, Ready),
            (Provisioning, Failed),
            // A delete starts.
            (Ready, Deleting),
            (Failed, Deleting),
            // A delete fails.
            (Deleting, Failed),
        ];
        for &from in InstanceStatus::ALL {
            for &to in InstanceStatus::ALL {
                assert_eq!(
                    from.may_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn an_instance_shows_its_lifecycle_until_ready_then_its_power() {
        for &status in InstanceStatus::ALL {
            for &power in Power::ALL {
                let state = InstanceState::of(status, power);
                assert_eq!(state.status(), status);
                let expected = match status {
                    InstanceStatus::Ready => power.as_str(),
                    InstanceStatus::Provisioning
                    | InstanceStatus::Failed
                    | InstanceStatus::Deleting => status.as_str(),
                };
                let json = serde_json::to_value(state).unwrap();
                assert_eq!(json, expected);
                assert_eq!(
                    serde_json::from_value::<InstanceState>(json).unwrap(),
                    state
                );
            }
        }
        assert!("ready".parse::<InstanceState>().is_err(), "never sent");
    }

    /// The OpenAPI schema of `T` lists exactly its texts.
    #[cfg(feature = "ssr")]
    fn assert_schema_lists<T: Copy + utoipa::PartialSchema>(
        all: &[T],
        as_str: fn(T) -> &'static str,
    ) {
        let schema = serde_json::to_value(T::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(texts(all, as_str)));
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_api_schema_lists_the_same_texts() {
        assert_schema_lists(InstanceStatus::ALL, InstanceStatus::as_str);
        assert_schema_lists(Health::ALL, Health::as_str);
        assert_schema_lists(TaskState::ALL, TaskState::as_str);
        assert_schema_lists(StepState::ALL, StepState::as_str);
        assert_schema_lists(AuditOutcome::ALL, AuditOutcome::as_str);
        assert_schema_lists(AccountSource::ALL, AccountSource::as_str);
        assert_schema_lists(ParamKind::ALL, ParamKind::as_str);
        assert_schema_lists(SnapshotState::ALL, SnapshotState::as_str);
        assert_schema_lists(SnapshotKind::ALL, SnapshotKind::as_str);
        assert_schema_lists(DrillState::ALL, DrillState::as_str);
        assert_schema_lists(BackupState::ALL, BackupState::as_str);
        assert_schema_lists(BackupKind::ALL, BackupKind::as_str);
        assert_schema_lists(BackupFrequency::ALL, BackupFrequency::as_str);
        assert_schema_lists(Role::ALL, Role::as_str);
        assert_schema_lists(TaskKind::ALL, TaskKind::as_str);
        assert_schema_lists(NetworkZone::ALL, NetworkZone::as_str);
    }
}

text_enum! {
    /// Who may open an instance's application through the gateway, besides
    /// those who may manage the instance (its owner, the admins of the
    /// department it is charged to, and appliance admins).
    pub enum Share {
        /// Only those who may manage it.
        Owner = "owner",
        /// Every member of the department it is charged to, too.
        Department = "department",
        /// Every signed-in account.
        SignedIn = "signed_in",
        /// Anyone who can reach the appliance, without signing in.
        Public = "public",
    }
}

text_enum! {
    /// The order of an instance list. Every order ends on the id, so pages
    /// cut by a cursor never skip or repeat an instance.
    #[derive(Default)]
    pub enum InstanceSort {
        /// Newest deploy first (the default).
        #[default]
        Newest = "newest",
        /// Oldest deploy first.
        Oldest = "oldest",
        /// By name, a to z.
        Name = "name",
        /// By name, z to a.
        NameDesc = "name_desc",
    }
}

text_enum! {
    /// Where an instance's snapshot is in its life. A snapshot being taken
    /// or removed is shown with its task's progress.
    pub enum SnapshotState {
        /// Its task is taking it.
        Creating = "creating",
        /// Taken: it can be reverted to or deleted.
        Ready = "ready",
        /// Its instance is being reverted to it.
        Reverting = "reverting",
        /// Its task is removing it.
        Deleting = "deleting",
    }
}

text_enum! {
    /// Where a snapshot's data lives.
    pub enum SnapshotKind {
        /// Inside the instance's disk (an internal qcow2 snapshot).
        Internal = "internal",
        /// A copy of the whole disk beside it: what a restore over the
        /// instance keeps of the disk it replaces.
        DiskCopy = "disk_copy",
    }
}

text_enum! {
    /// How a backup's restore drill went: a throwaway guest restored from
    /// it, checked, and destroyed.
    pub enum DrillState {
        /// The throwaway guest is being restored and checked.
        Running = "running",
        /// It came up, and its application answered as expected.
        Passed = "passed",
        Failed = "failed",
    }
}

text_enum! {
    /// Where a backup is in its life.
    pub enum BackupState {
        /// Its task is copying the disk.
        Running = "running",
        /// Copied and checksummed: it can be restored.
        Ready = "ready",
        /// It did not finish; nothing of it counts, and its file is gone.
        Failed = "failed",
    }
}

text_enum! {
    /// What a backup holds.
    pub enum BackupKind {
        /// The whole disk.
        Full = "full",
        /// Only the blocks changed since the backup it builds on (its
        /// parent), which a restore reads through.
        Incremental = "incremental",
    }
}

text_enum! {
    /// How often a backup policy backs up each instance.
    pub enum BackupFrequency {
        /// Never on its own: only backups that someone starts.
        Off = "off",
        Daily = "daily",
        /// On Mondays.
        Weekly = "weekly",
    }
}
