//! The secrets provider against Secrets Manager on the local stack (moto).

use std::time::Duration;

use shared::{SecretsError, SecretsProvider};

async fn client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&testkit::local_stack_sdk_config().await)
}

fn json(secret_key: &str, webhook: &str) -> String {
    serde_json::json!({ "CLERK_SECRET_KEY": secret_key, "CLERK_WEBHOOK_SECRET": webhook })
        .to_string()
}

async fn new_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("test/clerk-{}", uuid::Uuid::new_v4().simple());
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    name
}

async fn put(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

fn secret_key(s: &shared::ClerkSecrets) -> &str {
    s.secret_key.as_ref().unwrap().expose()
}

#[tokio::test]
async fn reads_the_json_secret() {
    let client = client().await;
    let real_pem = include_str!("../../../infra/dev/clerk-dev-key.pub.pem").trim();
    // As a one-line paste holds it: literal `\n` sequences.
    let pem = real_pem.replace('\n', "\\n");
    let value = serde_json::json!({
        "CLERK_SECRET_KEY": "sk_test_one",
        "CLERK_WEBHOOK_SECRET": "whsec_YQ== whsec_Yg==",
        "CLERK_JWT_KEY": pem,
        "OTHER_APP_KEY": "ignored",
    })
    .to_string();
    let name = new_secret(&client, &value).await;
    let provider = SecretsProvider::secrets_manager(client, &name, Duration::from_secs(300));
    let secrets = provider.get().await.unwrap();
    assert_eq!(secret_key(&secrets), "sk_test_one");
    let hooks: Vec<_> = secrets.webhook_secrets.iter().map(|s| s.expose()).collect();
    assert_eq!(hooks, ["whsec_YQ==", "whsec_Yg=="]);
    assert_eq!(secrets.jwt_key.as_ref().unwrap().expose(), real_pem);
    assert_eq!(secrets.malformed, []);
}

#[tokio::test]
async fn caches_within_the_ttl_and_refresh_rereads() {
    let client = client().await;
    let name = new_secret(&client, &json("sk_test_old", "whsec_b2xk")).await;
    let provider =
        SecretsProvider::secrets_manager(client.clone(), &name, Duration::from_secs(3600))
            .with_min_refresh_interval(Duration::ZERO);
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_old");
    put(&client, &name, &json("sk_test_new", "whsec_bmV3")).await;
    assert_eq!(
        secret_key(&provider.get().await.unwrap()),
        "sk_test_old",
        "served from the cache"
    );
    assert_eq!(
        secret_key(&provider.refresh().await.unwrap()),
        "sk_test_new"
    );
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_new");
}

#[tokio::test]
async fn forced_refreshes_are_rate_limited() {
    let client = client().await;
    let name = new_secret(&client, &json("sk_test_old", "whsec_b2xk")).await;
    let provider =
        SecretsProvider::secrets_manager(client.clone(), &name, Duration::from_secs(3600))
            .with_min_refresh_interval(Duration::from_secs(3600));
    provider.get().await.unwrap();
    put(&client, &name, &json("sk_test_new", "whsec_bmV3")).await;
    assert_eq!(
        secret_key(&provider.refresh().await.unwrap()),
        "sk_test_old",
        "a refresh right after a fetch reuses it"
    );
}

#[tokio::test]
async fn expired_entries_are_fetched_again() {
    let client = client().await;
    let name = new_secret(&client, &json("sk_test_old", "whsec_b2xk")).await;
    let provider =
        SecretsProvider::secrets_manager(client.clone(), &name, Duration::from_millis(100));
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_old");
    put(&client, &name, &json("sk_test_new", "whsec_bmV3")).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_new");
}

#[tokio::test]
async fn a_failed_fetch_is_not_cached() {
    let client = client().await;
    let name = format!("test/missing-{}", uuid::Uuid::new_v4().simple());
    let provider =
        SecretsProvider::secrets_manager(client.clone(), &name, Duration::from_secs(3600))
            .with_failure_backoff(Duration::ZERO);
    match provider.get().await {
        Err(SecretsError::Unavailable(reason)) => {
            assert!(reason.contains("ResourceNotFoundException"), "{reason}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    client
        .create_secret()
        .name(&name)
        .secret_string(json("sk_test_late", "whsec_bGF0ZQ=="))
        .send()
        .await
        .unwrap();
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_late");
}

#[tokio::test]
async fn failed_reads_back_off() {
    let client = client().await;
    let name = format!("test/missing-{}", uuid::Uuid::new_v4().simple());
    let provider =
        SecretsProvider::secrets_manager(client.clone(), &name, Duration::from_secs(3600))
            .with_failure_backoff(Duration::from_millis(400));
    let first = provider.get().await.unwrap_err();
    assert!(matches!(first, SecretsError::Unavailable(_)), "{first:?}");
    client
        .create_secret()
        .name(&name)
        .secret_string(json("sk_test_late", "whsec_bGF0ZQ=="))
        .send()
        .await
        .unwrap();
    assert_eq!(
        provider.get().await.unwrap_err(),
        first,
        "within the back-off: the last error, no read"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_late");
}

#[tokio::test]
async fn while_reads_fail_the_values_held_are_served_and_forced_reads_stay_rare() {
    let client = client().await;
    let name = new_secret(&client, &json("sk_test_old", "whsec_b2xk")).await;
    let provider = SecretsProvider::secrets_manager(client.clone(), &name, Duration::from_secs(1))
        .with_min_refresh_interval(Duration::from_secs(3600))
        .with_failure_backoff(Duration::from_secs(3600));
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_old");
    client
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Expired, and the read fails: the values held are served.
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_old");
    // Forced while failing: still the values held, never an error.
    assert_eq!(
        secret_key(&provider.refresh().await.unwrap()),
        "sk_test_old"
    );
    client
        .create_secret()
        .name(&name)
        .secret_string(json("sk_test_new", "whsec_bmV3"))
        .send()
        .await
        .unwrap();
    // Secrets Manager answers again, but the failure back-off holds: nothing is read,
    // forced or not.
    assert_eq!(
        secret_key(&provider.refresh().await.unwrap()),
        "sk_test_old"
    );
    assert_eq!(secret_key(&provider.get().await.unwrap()), "sk_test_old");
}

#[tokio::test]
async fn malformed_and_binary_secrets_are_errors() {
    let client = client().await;
    let name = new_secret(&client, "sk_test_not_json").await;
    let provider = SecretsProvider::secrets_manager(client.clone(), &name, Duration::from_secs(1));
    assert_eq!(
        provider.get().await.unwrap_err(),
        SecretsError::Malformed("not valid JSON (line 1, column 1)".into())
    );

    let binary = format!("test/binary-{}", uuid::Uuid::new_v4().simple());
    client
        .create_secret()
        .name(&binary)
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![1, 2, 3]))
        .send()
        .await
        .unwrap();
    let provider = SecretsProvider::secrets_manager(client, &binary, Duration::from_secs(1));
    assert_eq!(
        provider.get().await.unwrap_err(),
        SecretsError::NoSecretString
    );
}

#[tokio::test]
async fn the_local_stack_secret_is_readable_through_config() {
    // What the functions do at cold start: Config from the environment, then secrets.
    let config = shared::Config::from_env().unwrap();
    assert!(
        config.secret_arn.is_some(),
        "the local stack sets CLERK_SECRET_ARN"
    );
    let provider =
        shared::services::secrets_provider(&config, &testkit::local_stack_sdk_config().await);
    let secrets = provider.get().await.unwrap();
    assert!(secret_key(&secrets).starts_with("sk_test_"));
    assert_eq!(secrets.webhook_secrets.len(), 1);
}
