//! The reconciliation's checkpoint: where a run cut off (by its deadline, a rate limit or an
//! outage) stopped, so the next one resumes there, and a lease so that one run works at a
//! time. One item, `reconcile#checkpoint`; every write to it is conditioned on the lease.
//!
//! Overlapping runs could not corrupt the users anyway (each user write is conditioned and
//! ordered like a webhook's); the lease only keeps a second run from doing the same work.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::item::{self, Item, n, s};
use super::transaction::unless_condition_failed;
use super::{Cursor, StoreError, UserStore};

const CHECKPOINT_PK: &str = "reconcile#checkpoint";

/// Which part of a reconciliation a run is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Reading Clerk's list, oldest first: every user created before `after_ms` is done,
    /// and the first `skip` of those created at `after_ms` (`None`: from the start).
    Clerk {
        /// Creation time (ms) of the last user done.
        after_ms: Option<i64>,
        /// Users done among those created at `after_ms`.
        skip: u32,
    },
    /// Confirming that the users stored here still exist in Clerk, a page of the table at
    /// a time (`None`: from the newest).
    Stored {
        /// Where the next page of stored users starts.
        cursor: Option<Cursor>,
    },
}

impl Progress {
    /// A run from the beginning.
    pub const START: Self = Self::Clerk {
        after_ms: None,
        skip: 0,
    };
}

/// What a run found in the checkpoint when it took the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Where to resume.
    pub progress: Progress,
    /// When the last complete reconciliation ended (Unix ms).
    pub last_completed_ms: Option<i64>,
    /// Set when a run stopped at its tombstone limit: runs under the same limit and key stop
    /// at once until one of them changes (a fixed key, or a limit raised on purpose).
    pub halted: Option<Halt>,
}

/// Why reconciliations stopped for good: the tombstone limit a run reached, with the key it
/// ran with (a fingerprint, never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    /// `RECONCILE_MAX_TOMBSTONES` at the time.
    pub limit: u32,
    /// A fingerprint of the secret key of that run.
    pub key: String,
}

impl UserStore {
    /// Takes the reconciliation lease for `owner` until `until_ms`, unless another run holds
    /// it at `now_ms` (`Ok(None)`); returns the checkpoint to resume from.
    pub async fn take_reconcile_lease(
        &self,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(CHECKPOINT_PK.to_owned())))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        unless_condition_failed(result)?
            .map(|out| read(&out.attributes.unwrap_or_default()))
            .transpose()
    }

    /// Saves `progress` while `owner` holds the lease; `Ok(false)` when it no longer does
    /// (it ran past its lease and another run took over: stop).
    pub async fn save_reconcile_progress(
        &self,
        owner: &str,
        progress: &Progress,
    ) -> Result<bool, StoreError> {
        let mut set = vec!["progress_phase = :phase"];
        let mut remove = Vec::new();
        let mut values = vec![];
        match progress {
            Progress::Clerk { after_ms, skip } => {
                values.push((":phase", s("clerk")));
                remove.push("progress_cursor");
                match after_ms {
                    Some(after) => {
                        set.push("progress_after_ms = :after");
                        values.push((":after", n(*after)));
                    }
                    None => remove.push("progress_after_ms"),
                }
                set.push("progress_skip = :skip");
                values.push((":skip", n(*skip)));
            }
            Progress::Stored { cursor } => {
                values.push((":phase", s("stored")));
                remove.extend(["progress_after_ms", "progress_skip"]);
                match cursor {
                    Some(cursor) => {
                        set.push("progress_cursor = :cursor");
                        values.push((":cursor", s(cursor.encode())));
                    }
                    None => remove.push("progress_cursor"),
                }
            }
        }
        self.update_as_owner(owner, &set, &remove, values).await
    }

    /// Records that `owner`'s run stopped at its tombstone limit (see [`Checkpoint::halted`]).
    pub async fn halt_reconcile(&self, owner: &str, halt: &Halt) -> Result<bool, StoreError> {
        let values = vec![(":limit", n(halt.limit)), (":key", s(&halt.key))];
        self.update_as_owner(
            owner,
            &["halted_limit = :limit", "halted_key = :key"],
            &[],
            values,
        )
        .await
    }

    /// Ends `owner`'s run: when `completed_ms` is given the reconciliation finished and the
    /// next run starts from the beginning (and any halt is over); the lease is released
    /// either way.
    pub async fn release_reconcile_lease(
        &self,
        owner: &str,
        completed_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut set = vec![];
        let mut remove = vec!["lease_owner", "lease_until"];
        let mut values = vec![];
        if let Some(completed) = completed_ms {
            set.extend(["progress_phase = :phase", "last_completed_ms = :done"]);
            remove.extend([
                "progress_after_ms",
                "progress_skip",
                "progress_cursor",
                "halted_limit",
                "halted_key",
            ]);
            values.extend([(":phase", s("clerk")), (":done", n(completed))]);
        }
        self.update_as_owner(owner, &set, &remove, values).await
    }

    async fn update_as_owner(
        &self,
        owner: &str,
        set: &[&str],
        remove: &[&str],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut expression = String::new();
        if !set.is_empty() {
            expression = format!("SET {}", set.join(", "));
        }
        if !remove.is_empty() {
            expression = format!("{expression} REMOVE {}", remove.join(", "));
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(CHECKPOINT_PK.to_owned())))
            .update_expression(expression.trim())
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner));
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        Ok(unless_condition_failed(update.send().await)?.is_some())
    }
}

fn read(checkpoint: &Item) -> Result<Checkpoint, StoreError> {
    let number = |name: &str| match checkpoint.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("checkpoint {name}: not an integer"))),
        None => Ok(None),
        Some(_) => Err(StoreError::Corrupt(format!(
            "checkpoint {name}: not a number"
        ))),
    };
    let progress = match checkpoint.get("progress_phase") {
        Some(AttributeValue::S(phase)) if phase == "stored" => Progress::Stored {
            cursor: match checkpoint.get("progress_cursor") {
                Some(AttributeValue::S(c)) => Some(Cursor::decode(c)?),
                _ => None,
            },
        },
        _ => Progress::Clerk {
            after_ms: number("progress_after_ms")?,
            skip: u32::try_from(number("progress_skip")?.unwrap_or(0)).unwrap_or(0),
        },
    };
    let halted = match (number("halted_limit")?, checkpoint.get("halted_key")) {
        (Some(limit), Some(AttributeValue::S(key))) => Some(Halt {
            limit: u32::try_from(limit).unwrap_or(0),
            key: key.clone(),
        }),
        _ => None,
    };
    Ok(Checkpoint {
        progress,
        last_completed_ms: number("last_completed_ms")?,
        halted,
    })
}
