//! What one run did: the counts its summary line and metrics report.

use std::time::Duration;

use serde_json::{Value, json};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The whole reconciliation finished; the next run starts from the beginning.
    Complete,
    /// Stopped before the deadline or on a rate limit that outlasts it; the next run
    /// resumes from the checkpoint.
    Checkpointed,
    /// Another run holds the lease: this one did nothing.
    LeaseHeld,
    /// Stopped by a failure (the reason code says which); the next run resumes from the
    /// checkpoint.
    Failed(&'static str),
}

impl Outcome {
    /// The stable code, in the summary line and the metric's dimension.
    pub fn code(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Checkpointed => "checkpointed",
            Self::LeaseHeld => "lease-held",
            Self::Failed(code) => code,
        }
    }
}

/// The counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Clerk users read from the list.
    pub scanned: u64,
    /// Stored for the first time.
    pub created: u64,
    /// Stored state older than Clerk's: updated.
    pub updated: u64,
    /// Already current (or newer here, from a webhook): nothing written.
    pub unchanged: u64,
    /// Stored here, gone from Clerk (confirmed by a 404): tombstoned.
    pub tombstoned: u64,
    /// Stored without their Clerk email or username (a user with newer Clerk state holds
    /// it), or refused by a uniqueness conflict or DynamoDB's limits.
    pub conflicts: u64,
    /// List entries that are not a user this code can read (skipped).
    pub unreadable: u64,
    /// Pages read (Clerk's list and the table's).
    pub pages: u64,
    /// Backend API requests sent.
    pub requests: u64,
    /// 429 answers honoured.
    pub throttled: u64,
    /// Whether the run resumed a checkpoint.
    pub resumed: bool,
    /// How long the run took.
    pub duration: Duration,
}

impl Summary {
    /// The run's one summary line, and its counts as metrics.
    pub fn report(&self, outcome: Outcome) {
        let duration_ms = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            outcome = outcome.code(),
            scanned = self.scanned,
            created = self.created,
            updated = self.updated,
            unchanged = self.unchanged,
            tombstoned = self.tombstoned,
            conflicts = self.conflicts,
            unreadable = self.unreadable,
            pages = self.pages,
            requests = self.requests,
            throttled = self.throttled,
            resumed = self.resumed,
            duration = %format_args!("{:.3}s", self.duration.as_secs_f64()),
            duration_ms,
            "reconciliation run"
        );
        shared::metrics::count("ReconcileRuns", &[("Outcome", outcome.code())]);
        for (result, n) in [
            ("created", self.created),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("tombstoned", self.tombstoned),
            ("conflict", self.conflicts),
            ("unreadable", self.unreadable),
        ] {
            if n > 0 {
                shared::metrics::count_n("ReconcileUsers", &[("Result", result)], n);
            }
        }
    }

    /// The counts as the function's answer.
    pub fn to_json(&self, outcome: Outcome) -> Value {
        json!({
            "outcome": outcome.code(),
            "scanned": self.scanned,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "tombstoned": self.tombstoned,
            "conflicts": self.conflicts,
            "unreadable": self.unreadable,
            "pages": self.pages,
            "requests": self.requests,
            "throttled": self.throttled,
            "resumed": self.resumed,
            "duration_ms": u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
        })
    }
}
