//! The concurrency limit: at most `limit` processes run; further sessions wait in FIFO order.

use std::collections::VecDeque;

/// Slots and the waiting line. `T` is whatever starting a queued session needs.
#[derive(Debug)]
pub struct Slots<T> {
    limit: usize,
    running: usize,
    waiting: VecDeque<(String, T)>,
}

/// What [`Slots::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<T> {
    /// A slot was free and is now taken: start it.
    Start(T),
    /// Queued at this 1-based position.
    Queued(usize),
}

impl<T> Slots<T> {
    /// `limit` concurrent processes (at least 1).
    pub fn new(limit: usize) -> Slots<T> {
        Slots {
            limit: limit.max(1),
            running: 0,
            waiting: VecDeque::new(),
        }
    }

    /// Takes a slot for `id` or queues it behind the others.
    pub fn admit(&mut self, id: &str, item: T) -> Admission<T> {
        if self.running < self.limit && self.waiting.is_empty() {
            self.running += 1;
            Admission::Start(item)
        } else {
            self.waiting.push_back((id.to_string(), item));
            Admission::Queued(self.waiting.len())
        }
    }

    /// Puts `id` at the end of the line without taking a slot (see [`Slots::take_next`]).
    pub fn enqueue(&mut self, id: &str, item: T) {
        self.waiting.push_back((id.to_string(), item));
    }

    /// Counts a process that already runs (re-adopted) against the limit, even over it.
    pub fn occupy(&mut self) {
        self.running += 1;
    }

    /// A process ended: frees its slot and hands out the next waiting item, whose slot is
    /// taken at once.
    pub fn release(&mut self) -> Option<(String, T)> {
        self.running = self.running.saturating_sub(1);
        self.take_next()
    }

    /// The next waiting item if a slot is free (taking the slot).
    pub fn take_next(&mut self) -> Option<(String, T)> {
        if self.running < self.limit {
            let next = self.waiting.pop_front()?;
            self.running += 1;
            return Some(next);
        }
        None
    }

    /// Removes a waiting item (stopped before it started).
    pub fn remove(&mut self, id: &str) -> Option<T> {
        let i = self.waiting.iter().position(|(k, _)| k == id)?;
        self.waiting.remove(i).map(|(_, t)| t)
    }

    /// Is `id` waiting?
    pub fn is_waiting(&self, id: &str) -> bool {
        self.waiting.iter().any(|(k, _)| k == id)
    }

    /// Processes counted as running.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Items waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_with_a_limit() {
        let mut s = Slots::new(1);
        assert_eq!(s.admit("a", 1), Admission::Start(1));
        assert_eq!(s.admit("b", 2), Admission::Queued(1));
        assert_eq!(s.admit("c", 3), Admission::Queued(2));
        assert!(s.is_waiting("b"));
        assert_eq!(s.remove("b"), Some(2));
        assert_eq!(s.release(), Some(("c".to_string(), 3)));
        assert_eq!(s.running(), 1);
        assert_eq!(s.release(), None);
        assert_eq!(s.running(), 0);
        s.occupy();
        s.occupy();
        assert_eq!(s.admit("d", 4), Admission::Queued(1));
        assert_eq!(s.release(), None);
        assert_eq!(s.release(), Some(("d".to_string(), 4)));
        assert_eq!(s.waiting(), 0);
    }
}
