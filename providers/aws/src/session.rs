//! The AWS SDK set up from [`Settings`]: one shared configuration (credentials resolved as
//! the AWS CLI resolves them, an optional role assumed on top), and clients per service —
//! a Secrets Manager client per region, because an ARN's call goes to the ARN's region.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use secretsd_protocol::{ErrorKind, ProviderError};

use crate::settings::Settings;

/// Attempts per call when AWS throttles or fails transiently: with the SDK's exponential
/// backoff and full jitter from [`INITIAL_BACKOFF`], the pauses stay well inside
/// `timeout_seconds`, which bounds the whole call anyway.
pub const ATTEMPTS: u32 = 4;
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

pub struct Session {
    sdk: SdkConfig,
    endpoint_secretsmanager: Option<String>,
    endpoint_ssm: Option<String>,
    secrets_manager: HashMap<Option<String>, aws_sdk_secretsmanager::Client>,
    parameters: Option<aws_sdk_ssm::Client>,
}

impl Session {
    pub async fn new(settings: &Settings) -> Result<Session, ProviderError> {
        // ring, as the rest of the workspace's TLS: the SDK's default would build aws-lc.
        let mut http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
        if let Some(path) = &settings.ca_bundle {
            let context = tls::TlsContext::builder()
                .with_trust_store(crate::ca_bundle::trust_store(path)?)
                .build()
                .map_err(|e| {
                    ProviderError::new(
                        ErrorKind::Invalid,
                        format!("AWS_CA_BUNDLE {} cannot be used: {e}", path.display()),
                    )
                })?;
            http = http.tls_context(context);
        }
        let http = http.build_https();
        let http = crate::bounded_http::bounded(http);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(ATTEMPTS)
                    .with_initial_backoff(INITIAL_BACKOFF)
                    .with_max_backoff(MAX_BACKOFF),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(settings.timeout)
                    .connect_timeout(Duration::from_secs(5).min(settings.timeout))
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(keys) = &settings.keys {
            loader = loader.credentials_provider(Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.to_string(),
                keys.session_token.as_ref().map(|t| t.to_string()),
                None,
                "vault-config",
            ));
        }
        let mut sdk = loader.load().await;
        if let Some(role) = &settings.role_arn {
            let mut assume = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name(
                    settings
                        .role_session_name
                        .clone()
                        .unwrap_or_else(|| "secretsd-vault".into()),
                )
                .configure(&sdk);
            if let Some(id) = &settings.external_id {
                assume = assume.external_id(id);
            }
            let provider = assume.build().await;
            sdk = sdk
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build();
        }
        Ok(Session {
            sdk,
            endpoint_secretsmanager: settings.endpoint_url_secretsmanager.clone(),
            endpoint_ssm: settings.endpoint_url_ssm.clone(),
            secrets_manager: HashMap::new(),
            parameters: None,
        })
    }

    /// The Secrets Manager client for `region` (None: the configured one).
    pub fn secrets_manager(&mut self, region: Option<&str>) -> aws_sdk_secretsmanager::Client {
        let key = region.map(str::to_string);
        let sdk = &self.sdk;
        let endpoint = &self.endpoint_secretsmanager;
        self.secrets_manager
            .entry(key)
            .or_insert_with(|| {
                let mut config = aws_sdk_secretsmanager::config::Builder::from(sdk);
                if let Some(region) = region {
                    config = config.region(Region::new(region.to_string()));
                }
                if let Some(url) = endpoint {
                    config = config.endpoint_url(url);
                }
                aws_sdk_secretsmanager::Client::from_conf(config.build())
            })
            .clone()
    }

    pub fn parameters(&mut self) -> aws_sdk_ssm::Client {
        let sdk = &self.sdk;
        let endpoint = &self.endpoint_ssm;
        self.parameters
            .get_or_insert_with(|| {
                let mut config = aws_sdk_ssm::config::Builder::from(sdk);
                if let Some(url) = endpoint {
                    config = config.endpoint_url(url);
                }
                aws_sdk_ssm::Client::from_conf(config.build())
            })
            .clone()
    }
}
