//! Pacing of Backend API requests: at most so many per second, evenly spaced, so a run never
//! spends the instance's rate limit (shared with the application's own calls) in a burst.

use std::time::Duration;

use tokio::time::Instant;

/// Spaces requests at least `gap` apart.
pub struct Pacer {
    gap: Duration,
    next: Instant,
}

impl Pacer {
    /// `per_second` requests a second at most (at least 1).
    pub fn new(per_second: u32) -> Self {
        Self {
            gap: Duration::from_secs(1) / per_second.max(1),
            next: Instant::now(),
        }
    }

    /// Waits for the next request's turn.
    pub async fn wait(&mut self) {
        tokio::time::sleep_until(self.next).await;
        self.next = Instant::now().max(self.next) + self.gap;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_spaced_by_the_gap() {
        let mut pacer = Pacer::new(20);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        // The first goes at once, the four after it 50 ms apart at least (a lower bound:
        // sleeping never ends early).
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
    }
}
