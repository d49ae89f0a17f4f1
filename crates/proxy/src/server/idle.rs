//! The idle set: deadlines and wake-ups of the keep-alive connections waiting for their next
//! request.

use std::time::Instant;

/// The connections of one listener (one worker) that wait for their next request.
///
/// An idle keep-alive connection needs two wake-ups besides its socket: its idle timeout and
/// graceful shutdown. A tokio `Sleep` plus a `Notified` per connection cost 176 bytes of every
/// idle connection's task, a timer-wheel insert and removal per request, and a lock on a
/// `Notify` shared by all workers. Instead each idle connection takes a slot here (deadline and
/// waker, about 40 bytes) and one sweeper task per listener wakes the expired ones every tick,
/// and all of them at shutdown. The timeout is thus late by at most one tick (a sixteenth of
/// the shortest timeout, at most 250 ms), never early, which is how nginx's own timers behave
/// too (`timer_resolution`). The lock is per worker, so it is never contended across threads.
pub(super) struct IdleSet {
    inner: std::sync::Mutex<IdleInner>,
}

#[derive(Default)]
struct IdleInner {
    slots: Vec<IdleSlot>,
    free: Vec<u32>,
    /// Set at shutdown: new idle waits end at once.
    closing: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotState {
    Free,
    Waiting,
    TimedOut,
    Shutdown,
    /// Quiet long enough to leave its task (see `crate::park`).
    Park,
}

struct IdleSlot {
    deadline: Instant,
    /// When to park it; `None`: never.
    park_at: Option<Instant>,
    waker: Option<std::task::Waker>,
    state: SlotState,
}

impl IdleSet {
    pub(super) fn new() -> Self {
        IdleSet {
            inner: std::sync::Mutex::new(IdleInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdleInner> {
        // Nothing panics while holding the lock; recover the data if something ever did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take a slot until `deadline`; `None` when the listener is shutting down.
    pub(super) fn enter(
        &self,
        deadline: Instant,
        park_at: Option<Instant>,
    ) -> Option<IdleGuard<'_>> {
        let mut g = self.lock();
        if g.closing {
            return None;
        }
        let slot = IdleSlot {
            deadline,
            park_at: park_at.filter(|&p| p < deadline),
            waker: None,
            state: SlotState::Waiting,
        };
        let idx = match g.free.pop() {
            Some(i) => {
                g.slots[i as usize] = slot;
                i
            }
            None => {
                g.slots.push(slot);
                (g.slots.len() - 1) as u32
            }
        };
        Some(IdleGuard { set: self, idx })
    }

    /// Wake every slot whose deadline has passed, and every one due to park.
    pub(super) fn expire(&self, now: Instant) {
        let mut wake = Vec::new();
        {
            let mut g = self.lock();
            for s in g.slots.iter_mut() {
                if s.state != SlotState::Waiting {
                    continue;
                }
                if s.deadline <= now {
                    s.state = SlotState::TimedOut;
                    wake.extend(s.waker.take());
                } else if s.park_at.is_some_and(|p| p <= now) {
                    s.state = SlotState::Park;
                    wake.extend(s.waker.take());
                }
            }
            // Give the table's memory back once a crowd of idle clients has gone (or parked).
            if g.free.len() == g.slots.len() && g.slots.capacity() > 64 {
                g.slots = Vec::new();
                g.free = Vec::new();
            }
        }
        // Woken outside the lock: a waker may run the task's scheduling code.
        wake.into_iter().for_each(|w| w.wake());
    }

    pub(super) fn close_all(&self) {
        let mut wake = Vec::new();
        {
            let mut g = self.lock();
            g.closing = true;
            for s in g.slots.iter_mut() {
                if s.state == SlotState::Waiting {
                    s.state = SlotState::Shutdown;
                    wake.extend(s.waker.take());
                }
            }
        }
        wake.into_iter().for_each(|w| w.wake());
    }
}

/// A connection's place in its [`IdleSet`]; freed on drop, so a cancelled wait leaves nothing.
pub(super) struct IdleGuard<'a> {
    set: &'a IdleSet,
    idx: u32,
}

impl IdleGuard<'_> {
    /// How the wait ended, with its deadline.
    pub(super) fn poll(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<(SlotState, Instant)> {
        let mut g = self.set.lock();
        let s = &mut g.slots[self.idx as usize];
        match s.state {
            SlotState::Waiting => {
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                std::task::Poll::Pending
            }
            other => std::task::Poll::Ready((other, s.deadline)),
        }
    }
}

impl Drop for IdleGuard<'_> {
    fn drop(&mut self) {
        let waker = {
            let mut g = self.set.lock();
            let s = &mut g.slots[self.idx as usize];
            s.state = SlotState::Free;
            let w = s.waker.take();
            g.free.push(self.idx);
            w
        };
        drop(waker);
    }
}
