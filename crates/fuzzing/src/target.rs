//! One fuzz target and how its check runs within its budget.

use crate::budget::{Budget, Used};

/// One fuzz target: a name (the cargo-fuzz target and the corpus directory) and its check.
#[derive(Clone, Copy)]
pub struct Target {
    /// The target's name: `fuzz/fuzz_targets/NAME.rs` and `corpus/NAME/`.
    pub name: &'static str,
    /// What it covers, for `benches/fuzz.sh --list`.
    pub covers: &'static str,
    /// The check itself, without the budget (see [`Target::check`]).
    pub(crate) run: fn(&[u8]),
}

impl Target {
    /// Runs the check on `data` within the budget for its length; panics on any violation.
    pub fn check(&self, data: &[u8]) -> Used {
        Budget::for_input(data.len()).watch(self.name, || (self.run)(data))
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}
