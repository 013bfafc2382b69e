//! The local stack's DynamoDB: fresh tables from `infra/users-table.json` and stores over them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::Value;

use crate::serial_proxy::SerialProxy;

/// SDK configuration for the local stack; panics with directions when it is not up.
pub async fn local_stack_sdk_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| v.starts_with("http://127.")),
        "these tests need the local stack: run them with `make test` \
         (or `infra/with-stack.sh cargo test`)"
    );
    shared::aws::sdk_config().await
}

/// A store over a fresh table of the local stack.
pub async fn fresh_store() -> shared::UserStore {
    let client = aws_sdk_dynamodb::Client::new(&local_stack_sdk_config().await);
    let table = fresh_table(&client).await;
    shared::UserStore::new(client, table)
}

/// A store over a table that does not exist: every call fails as when DynamoDB is down.
pub async fn missing_table_store() -> shared::UserStore {
    let client = aws_sdk_dynamodb::Client::new(&local_stack_sdk_config().await);
    shared::UserStore::new(client, "no-such-table")
}

/// A Clerk profile with just the fields most tests care about (stamp 1).
pub fn profile(
    clerk_user_id: &str,
    email: Option<&str>,
    username: &str,
) -> shared::store::ClerkProfile {
    shared::store::ClerkProfile {
        clerk_user_id: clerk_user_id.to_owned(),
        email: email.map(str::to_owned),
        username: username.to_owned(),
        first_name: None,
        last_name: None,
        full_name: None,
        image_url: None,
        is_admin: None,
        clerk_updated_at: 1,
        banned: false,
        locked: false,
        locked_until: None,
    }
}

/// The users table definition, as committed in `infra/users-table.json`.
pub fn table_spec() -> Value {
    serde_json::from_str(include_str!("../../../infra/users-table.json"))
        .expect("users-table.json is JSON")
}

/// Creates a table no other test uses, from `infra/users-table.json`.
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("test-users-{}", uuid::Uuid::new_v4().simple());
    let spec = table_spec();
    let keys = |v: &Value| -> Vec<KeySchemaElement> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap())
                    .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                    .build()
                    .unwrap()
            })
            .collect()
    };
    let attributes = spec["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(
                    a["AttributeType"].as_str().unwrap(),
                ))
                .build()
                .unwrap()
        })
        .collect();
    let indexes = spec["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            GlobalSecondaryIndex::builder()
                .index_name(i["IndexName"].as_str().unwrap())
                .set_key_schema(Some(keys(&i["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            i["Projection"]["ProjectionType"].as_str().unwrap(),
                        ))
                        .build(),
                )
                .build()
                .unwrap()
        })
        .collect();
    client
        .create_table()
        .table_name(&name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(keys(&spec["KeySchema"])))
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(BillingMode::from(spec["BillingMode"].as_str().unwrap()))
        .send()
        .await
        .expect("create test table");
    let ttl = &spec["TimeToLiveSpecification"];
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(ttl["AttributeName"].as_str().unwrap())
                .enabled(ttl["Enabled"].as_bool().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
    name
}

/// A store over a fresh table whose every request passes through a [`SerialProxy`], so
/// concurrent transactions are isolated as DynamoDB isolates them (moto's threaded server
/// does not). The proxy must live as long as the store.
pub async fn serial_store() -> (SerialProxy, shared::UserStore) {
    let sdk = local_stack_sdk_config().await;
    let upstream = std::env::var("AWS_ENDPOINT_URL").expect("checked by local_stack_sdk_config");
    let proxy = SerialProxy::start(&upstream, 1)
        .await
        .expect("start the serializing proxy");
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(proxy.endpoint(0))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = fresh_table(&client).await;
    (proxy, shared::UserStore::new(client, table))
}
