//! The second pass of a run: the users stored here, confirmed against Clerk by id; one Clerk
//! no longer has is tombstoned only on its own 404, and at most so many a run.

use std::collections::HashSet;

use shared::User;
use shared::clerk_api::{self, ListRequest};
use shared::store::{Cursor, ListQuery, Progress, StoreError};

use crate::{CLERK_USER_ID_PREFIX, Run, STORED_PAGE, Stop, store_failed};

impl Run<'_> {
    /// One page of the users stored here, confirmed against Clerk; `None` after the last.
    pub(crate) async fn stored_page(
        &mut self,
        cursor: Option<Cursor>,
    ) -> Result<Option<Progress>, Stop> {
        let query = ListQuery {
            limit: STORED_PAGE,
            cursor,
            active: None,
        };
        let page = self
            .r
            .services
            .store
            .list(&query)
            .await
            .map_err(store_failed)?;
        self.summary.pages += 1;
        let live: Vec<&User> = page
            .users
            .iter()
            .filter(|u| u.deleted_at.is_none() && u.clerk_user_id.starts_with(CLERK_USER_ID_PREFIX))
            .collect();
        if !live.is_empty() {
            let request = ListRequest {
                limit: STORED_PAGE,
                offset: 0,
                created_after: None,
                user_ids: live.iter().map(|u| u.clerk_user_id.clone()).collect(),
            };
            let present: HashSet<String> = self
                .list(&request)
                .await?
                .into_iter()
                .filter_map(|entry| entry.id)
                .collect();
            for user in live.iter().filter(|u| !present.contains(&u.clerk_user_id)) {
                self.confirm(user).await?;
            }
        }
        Ok(page.next.map(|cursor| Progress::Stored {
            cursor: Some(cursor),
        }))
    }

    /// A stored user Clerk's list left out: tombstoned only when Clerk answers 404 for it.
    pub(crate) async fn confirm(&mut self, user: &User) -> Result<(), Stop> {
        let id = user.clerk_user_id.as_str();
        let found = self
            .ask(|http, api_url, key| async move {
                clerk_api::get_user(http, &api_url, key.as_ref(), id).await
            })
            .await?;
        match found {
            Some(clerk_user) => {
                // Listed late (the list is eventually consistent): apply it like any other.
                self.summary.scanned += 1;
                let read_ms = self.r.services.clock.unix_millis();
                self.apply(&clerk_user, Some(user), read_ms).await
            }
            None if self.tombstones_left == 0 => {
                // Many users gone at once is more likely a key of another Clerk instance
                // than a mass deletion: tombstones are for good, so stop and say so.
                tracing::error!(
                    limit = self.r.services.config.reconcile_max_tombstones,
                    "tombstone limit of this run reached; stopping (RECONCILE_MAX_TOMBSTONES)"
                );
                Err(Stop::Failed("tombstone-limit"))
            }
            None => {
                self.tombstones_left -= 1;
                let now_ms = self.r.services.clock.unix_millis();
                match self
                    .r
                    .services
                    .store
                    .deactivate(&user.clerk_user_id, now_ms)
                    .await
                {
                    Ok(_) => {
                        self.summary.tombstoned += 1;
                        tracing::info!(clerk_user_id = %user.clerk_user_id, "gone from Clerk (404): tombstoned");
                        Ok(())
                    }
                    // Its `user.deleted` arrived meanwhile.
                    Err(StoreError::Stale) => {
                        self.summary.unchanged += 1;
                        Ok(())
                    }
                    Err(error) => Err(store_failed(error)),
                }
            }
        }
    }
}
