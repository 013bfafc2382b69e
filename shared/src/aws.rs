//! AWS SDK configuration shared by every client, loaded once per cold start.
//!
//! Region, credentials and endpoints come from the SDK's standard sources (on Lambda the
//! function's role; locally `AWS_ENDPOINT_URL` pointing at the moto server). Timeouts are
//! bounded so a stalled call fails inside the function's own timeout instead of eating it.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;

/// Loads the SDK configuration with this project's timeouts.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_at(None).await
}

/// [`sdk_config`], every call sent to `endpoint` when given (`LOCAL_AWS_ENDPOINT_URL`: the
/// local stack as a `sam local` container reaches it).
pub async fn sdk_config_at(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}
