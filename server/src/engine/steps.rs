//! The steps of each kind of task, and how a failed deploy is undone.

use app::model::TaskKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Choose a host with room.
    Place,
    /// A qcow2 overlay of the golden image.
    Clone,
    /// The NoCloud seed volume.
    Seed,
    /// The domain, from XML.
    Define,
    Start,
    /// ACPI power button.
    Shutdown,
    /// Wait for the guest to power off; pull the plug after the timeout.
    WaitOff,
    Reboot,
    PowerOff,
    Undefine,
    DeleteVolumes,
    /// Remove the instance's record.
    Forget,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Place => "place",
            Step::Clone => "clone",
            Step::Seed => "seed",
            Step::Define => "define",
            Step::Start => "start",
            Step::Shutdown => "shutdown",
            Step::WaitOff => "wait for power off",
            Step::Reboot => "reboot",
            Step::PowerOff => "power off",
            Step::Undefine => "undefine",
            Step::DeleteVolumes => "delete volumes",
            Step::Forget => "forget",
        }
    }

    pub fn of(kind: TaskKind) -> &'static [Step] {
        match kind {
            TaskKind::Deploy => &[
                Step::Place,
                Step::Clone,
                Step::Seed,
                Step::Define,
                Step::Start,
            ],
            TaskKind::Start => &[Step::Start],
            TaskKind::Shutdown => &[Step::Shutdown, Step::WaitOff],
            TaskKind::Reboot => &[Step::Reboot],
            TaskKind::Poweroff => &[Step::PowerOff],
            TaskKind::Delete => &[
                Step::PowerOff,
                Step::Undefine,
                Step::DeleteVolumes,
                Step::Forget,
            ],
        }
    }

    pub fn names(kind: TaskKind) -> Vec<&'static str> {
        Step::of(kind).iter().map(|s| s.name()).collect()
    }
}
