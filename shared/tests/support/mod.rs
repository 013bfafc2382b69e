//! Test support: the local stack's SDK configuration and fresh tables made from the one
//! table definition in `infra/users-table.json`.

#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::Value;

/// The table definition, as committed.
pub fn table_spec() -> Value {
    let text = include_str!("../../../infra/users-table.json");
    serde_json::from_str(text).expect("infra/users-table.json is JSON")
}

/// SDK configuration pointing at the local stack (moto server).
pub async fn sdk_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| v.starts_with("http://127.")),
        "these tests need the local stack: run them with `make test` \
         (or `infra/with-stack.sh cargo test`)"
    );
    shared::aws::sdk_config().await
}

pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
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

/// A store over a fresh table.
pub async fn fresh_store() -> shared::UserStore {
    let client = dynamodb().await;
    let table = fresh_table(&client).await;
    shared::UserStore::new(client, table)
}
