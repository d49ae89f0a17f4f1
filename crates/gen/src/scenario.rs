//! What a capture of its own is made of: the leaf the shapes' scenarios and `--shape` share.

use crate::rng::Rng;
use crate::sim::Ctx;
use crate::world::World;
use crate::Config;

/// A capture `keepsight-gen --shape NAME` makes: its own world and actors.
pub struct Scenario {
    /// What `--shape` calls it.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The `--duration` it is sized for when none is given, seconds.
    pub default_duration_s: u64,
    /// Builds the world (servers, clients, payload material) from the configuration.
    pub(crate) world: fn(&Config, &mut Rng, u64) -> World,
    /// Starts the actors.
    pub(crate) populate: fn(&mut Ctx, &Config),
}
