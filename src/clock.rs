//! The one source of time. Every expiry decision asks a [`Clock`], so tests can
//! move time forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; the unit of every timestamp Gatehouse stores or signs.
pub type UnixTime = i64;

/// Where "now" comes from: the system clock in production, a hand-moved one in tests.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// Wall-clock time.
    #[default]
    System,
    /// Time that only moves when a test moves it.
    Manual(ManualClock),
}

impl Clock {
    /// The current time in whole seconds.
    pub fn now(&self) -> UnixTime {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            Clock::Manual(manual) => manual.now(),
        }
    }
}

/// A clock handle a test holds on to and advances; clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A manual clock starting at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self(Arc::new(AtomicI64::new(Clock::System.now())))
    }

    /// The time this clock shows.
    pub fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}
