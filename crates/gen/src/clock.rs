//! Simulated time: the unit every module counts in, kept apart from the event loop so the
//! estate and the shapes can name durations without depending on the loop itself.

/// Microseconds since the start of the simulated world.
pub(crate) type Micros = u64;

pub(crate) const MS: Micros = 1_000;
pub(crate) const SEC: Micros = 1_000_000;
