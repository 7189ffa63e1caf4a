//! The SDK's HTTP client with every response body bounded: a hostile or broken endpoint
//! (a 4 GiB `Content-Length`, an endless stream) gets an error at [`MAX_BODY`] bytes
//! instead of the provider's memory. Every AWS call goes through it, the credential
//! providers' (STS, ECS, instance metadata) included.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use http_body_util::Limited;

/// The largest response body read. The largest legitimate answer is a BatchGetSecretValue
/// of 20 secrets of 64 KiB each, JSON-escaped: about 1.3 MiB of values, more with escapes.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// `inner` with its responses' bodies bounded at [`MAX_BODY`].
pub fn bounded(inner: SharedHttpClient) -> SharedHttpClient {
    SharedHttpClient::new(BoundedClient(inner))
}

#[derive(Debug)]
struct BoundedClient(SharedHttpClient);

impl HttpClient for BoundedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BoundedConnector(
            self.0.http_connector(settings, components),
        ))
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        config: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_base_client_config(components, config)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        config: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, config)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[derive(Debug)]
struct BoundedConnector(SharedHttpConnector);

impl HttpConnector for BoundedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let response = self.0.call(request);
        HttpConnectorFuture::new(async move {
            let response = response.await?;
            Ok(response.map(|body| SdkBody::from_body_1_x(Limited::new(body, MAX_BODY))))
        })
    }
}
