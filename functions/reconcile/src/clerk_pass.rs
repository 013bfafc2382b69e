//! The first pass of a run: Clerk's user list, oldest first, each page applied through the
//! webhook's path, a user already current costing no write.

use std::collections::HashMap;

use shared::User;
use shared::clerk::ClerkUser;
use shared::clerk_api::{ListRequest, Listed};
use shared::store::{Applied, ClerkProfile, Progress, StoreError};

use crate::{Run, Stop, store_failed};

impl Run<'_> {
    /// One page of Clerk's list, applied; where the next starts.
    pub(crate) async fn clerk_page(
        &mut self,
        after_ms: Option<i64>,
        skip: u32,
    ) -> Result<Progress, Stop> {
        let limit = self.r.services.config.reconcile_page_size;
        let request = ListRequest {
            limit,
            offset: skip,
            // Clerk's `created_at_after` is taken as exclusive: from one ms before, the
            // users of `after_ms` itself come back and `offset` skips those done. Were it
            // inclusive, a few users done already would come back too: applied again, which
            // writes nothing.
            created_after: after_ms.map(|t| t.saturating_sub(1)),
            user_ids: Vec::new(),
        };
        let listed = self.list(&request).await?;
        // When Clerk wrote this answer: a lockout's end counts from it.
        let read_ms = self.r.services.clock.unix_millis();
        self.summary.pages += 1;
        // Oldest first, as asked: a page out of order (the order ignored) would move the
        // cursor back and repeat pages forever.
        let (mut after, mut skip) = (after_ms, skip);
        for entry in &listed {
            if after.is_some_and(|t| entry.created_at < t) {
                tracing::error!("Clerk's list is not oldest first; stopping");
                return Err(Stop::Failed("clerk-list-unordered"));
            }
            if after == Some(entry.created_at) {
                skip += 1;
            } else {
                after = Some(entry.created_at);
                skip = 1;
            }
        }
        self.apply_page(&listed, read_ms).await?;
        Ok(if listed.len() < limit as usize {
            Progress::Stored { cursor: None }
        } else {
            Progress::Clerk {
                after_ms: after,
                skip,
            }
        })
    }

    /// Applies every readable user of a page, reading those stored in batches first: a
    /// user already current costs no write.
    async fn apply_page(&mut self, listed: &[Listed], read_ms: i64) -> Result<(), Stop> {
        let users: Vec<&ClerkUser> = listed.iter().filter_map(|e| e.user.as_ref()).collect();
        for entry in listed.iter().filter(|e| e.user.is_none()) {
            self.summary.unreadable += 1;
            tracing::warn!(
                clerk_user_id = entry.id.as_deref().unwrap_or("-"),
                "a listed user is not readable; skipped"
            );
        }
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let stored: HashMap<String, User> = self
            .r
            .services
            .store
            .get_many(&ids)
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(|u| (u.clerk_user_id.clone(), u))
            .collect();
        for user in users {
            self.summary.scanned += 1;
            self.apply(user, stored.get(&user.id), read_ms).await?;
        }
        Ok(())
    }

    /// Clerk does not document that a ban or a lockout moves `updated_at`: at the same stamp,
    /// Clerk's access decision as read now wins over the one stored, and nothing else is
    /// written. Whether it wrote (a newer webhook's write, landed meanwhile, stands).
    async fn refresh_access(&self, stored: &User, profile: &ClerkProfile) -> Result<bool, Stop> {
        let same_stamp = stored.clerk_updated_at == profile.clerk_updated_at;
        let access_differs = stored.banned != profile.banned || stored.locked != profile.locked;
        if !same_stamp || !access_differs || stored.deleted_at.is_some() {
            return Ok(false);
        }
        let refreshed = self
            .r
            .services
            .store
            .refresh_access(profile)
            .await
            .map_err(store_failed)?;
        if refreshed {
            tracing::info!(
                clerk_user_id = %profile.clerk_user_id,
                banned = profile.banned,
                locked = profile.locked,
                "Clerk's ban or lockout changed without a new updated_at"
            );
        }
        Ok(refreshed)
    }

    /// Applies one Clerk user read at `read_ms` as a webhook delivery of it would, unless
    /// `stored` is already as new (the ordering rule, decided without a write).
    pub(crate) async fn apply(
        &mut self,
        user: &ClerkUser,
        stored: Option<&User>,
        read_ms: i64,
    ) -> Result<(), Stop> {
        let profile = user.to_profile(read_ms);
        let store = &self.r.services.store;
        if let Some(stored) = stored.filter(|s| s.clerk_updated_at >= profile.clerk_updated_at) {
            if self.refresh_access(stored, &profile).await? {
                self.summary.updated += 1;
            } else {
                self.summary.unchanged += 1;
            }
            return Ok(());
        }
        match shared::mirror::mirror_user(store, user, read_ms, self.flags).await {
            Ok(written) => {
                match written.applied {
                    Applied::Created => self.summary.created += 1,
                    Applied::Updated => self.summary.updated += 1,
                }
                let kept = written.user.deleted_at.is_some()
                    || (written.user.email == profile.email
                        && written.user.username == profile.username);
                if !kept {
                    self.summary.conflicts += 1;
                    tracing::info!(
                        clerk_user_id = %user.id,
                        "stored without its Clerk email or username: another user holds it"
                    );
                }
            }
            // A webhook (or another run) stored this state or a newer one meanwhile.
            Err(StoreError::Stale) => self.summary.unchanged += 1,
            Err(error @ (StoreError::Conflict { .. } | StoreError::Unstorable(_))) => {
                self.summary.conflicts += 1;
                tracing::warn!(%error, clerk_user_id = %user.id, "user not stored");
            }
            Err(error) => return Err(store_failed(error)),
        }
        Ok(())
    }
}
