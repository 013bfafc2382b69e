//! Reads: a user by Clerk id, by our id, by email; pages of users; the raw items the writes
//! decide from.

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use super::item::{self, Item, Stored, guard_pk, s, user_pk};
use super::{
    Cursor, INDEX_BY_CREATED, INDEX_BY_ID, ListQuery, MAX_PAGE_SIZE, Page, StoreError, UniqueField,
    User, UserStore, unavailable,
};

impl UserStore {
    /// The user with this Clerk id: one strongly consistent `GetItem`.
    pub async fn get_by_clerk_id(&self, clerk_user_id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.load(clerk_user_id).await?.map(|stored| stored.user))
    }

    /// The user with this id of ours (through the `by_id` index).
    pub async fn get_by_id(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_BY_ID)
            .key_condition_expression("#id = :id")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":id", s(id.to_string()))
            .limit(1)
            .send()
            .await
            .map_err(unavailable)?;
        out.items()
            .first()
            .map(|item| item::item_to_stored(item).map(|stored| stored.user))
            .transpose()
    }

    /// The live user whose email is `email`, compared case-insensitively.
    pub async fn get_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let guard = self.get_item(guard_pk(UniqueField::Email, email)).await?;
        let Some(guard) = guard else { return Ok(None) };
        let owner = item::owner_of(&guard)?;
        let user = self.get_by_clerk_id(owner).await?;
        // A guard is released in the same transaction that changes the email, so this
        // only filters a record caught mid-way by a non-transactional edit of the table.
        Ok(user.filter(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.to_lowercase() == email.to_lowercase())
        }))
    }

    /// One page of users, newest first. Reads at most `limit + 1` index entries.
    pub async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let limit = query.limit.clamp(1, MAX_PAGE_SIZE);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_BY_CREATED)
            .key_condition_expression("#kind = :kind")
            .expression_attribute_names("#kind", item::KIND)
            .expression_attribute_values(":kind", s(item::KIND_USER))
            .scan_index_forward(false)
            // One more than the page: if it comes back, there is a next page.
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(query.cursor.as_ref().map(Cursor::start_key));
        if let Some(active) = query.active {
            request = request
                .filter_expression("is_active = :active")
                .expression_attribute_values(":active", AttributeValue::Bool(active));
        }
        let out = request.send().await.map_err(unavailable)?;
        let items = out.items();
        let page = &items[..items.len().min(limit as usize)];
        let next = if items.len() > page.len() {
            page.last().map(Cursor::after).transpose()?
        } else {
            // With a filter, fewer than limit + 1 can match while more remain unread.
            out.last_evaluated_key().map(Cursor::after).transpose()?
        };
        let users = page
            .iter()
            .map(|item| item::item_to_stored(item).map(|stored| stored.user))
            .collect::<Result<_, _>>()?;
        Ok(Page { users, next })
    }

    pub(super) async fn load(&self, clerk_user_id: &str) -> Result<Option<Stored>, StoreError> {
        self.get_item(user_pk(clerk_user_id))
            .await?
            .map(|item| item::item_to_stored(&item))
            .transpose()
    }

    pub(super) async fn get_item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}
