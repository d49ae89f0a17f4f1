//! The world's only source of randomness: one ChaCha8 stream seeded from `--seed`. Every choice
//! the simulation makes is drawn from it in a fixed order, so the same arguments give the same
//! bytes on every run and every machine (ChaCha's output is specified; `thread_rng` is not used).

use rand::{Rng as _, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};

pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.gen_range(lo..=hi)
    }

    pub(crate) fn chance(&mut self, probability: f64) -> bool {
        self.0.gen::<f64>() < probability
    }

    /// Exponentially distributed with the given mean (Poisson arrivals, think times).
    pub(crate) fn exp(&mut self, mean: f64) -> f64 {
        let unit: f64 = Exp1.sample(&mut self.0);
        unit * mean
    }

    /// Log-normal with the given median and shape (round-trip times, sizes, service times).
    pub(crate) fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let z: f64 = StandardNormal.sample(&mut self.0);
        median * (sigma * z).exp()
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.gen_range(0..items.len())]
    }

    pub(crate) fn u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}
