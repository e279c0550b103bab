//! The trigger policies of a schedule, in the form the loop uses.

use chrono::Duration;
use ferry_core::schedule::{Overlap, ValidSchedule};

/// What to do with logical times whose due time passed unhandled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfire {
    /// Drop them.
    Skip,
    /// Run the newest one.
    RunOnce,
    /// Run them all, at most this many (the newest).
    CatchUp(usize),
}

/// A schedule's trigger policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Fire this long after the logical time.
    pub delay: Duration,
    /// Missed times.
    pub misfire: Misfire,
    /// Instances of one task at once.
    pub overlap: Overlap,
    /// Whether the built-in engine triggers it (not an external one).
    pub builtin: bool,
}

impl Policy {
    /// The policies of a validated schedule.
    pub fn of(s: &ValidSchedule) -> Policy {
        use ferry_core::schedule::Misfire as M;
        Policy {
            delay: s.delay,
            misfire: match s.spec.misfire {
                M::Skip => Misfire::Skip,
                M::RunOnce => Misfire::RunOnce,
                M::CatchUp => Misfire::CatchUp(s.max_catch_up as usize),
            },
            overlap: s.spec.overlap,
            builtin: s.spec.engine == ferry_core::schedule::EngineKind::Builtin,
        }
    }

    /// Whether the built-in loop triggers this schedule.
    pub fn triggers_builtin(&self) -> bool {
        self.builtin
    }
}
