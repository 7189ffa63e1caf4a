//! AWS's errors as protocol error kinds, with messages that name the action and the
//! resource — never a credential, and never a value being written.

use std::error::Error;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use secretsd_protocol::{ErrorKind, ProviderError};

use crate::settings::{Settings, redacted_key_id};

/// The call that failed: `secretsmanager:GetSecretValue` on `prod/db`.
pub struct Call<'a> {
    pub action: &'static str,
    pub resource: &'a str,
    /// A write: the service's own words are left out, because a message may quote the
    /// request sent (AWS's and moto's validation messages do), and with it the value or,
    /// for a field write, the secret's other fields.
    pub writes: bool,
}

const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "KMSAccessDeniedException",
    "AuthFailure",
];
const EXPIRED: &[&str] = &["ExpiredTokenException", "ExpiredToken", "RequestExpired"];
const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
];
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
];
const INVALID: &[&str] = &[
    "ValidationException",
    "InvalidParameterException",
    "InvalidParameterValueException",
    "InvalidRequestException",
    "ParameterMaxVersionLimitExceeded",
    "ParameterLimitExceeded",
    "HierarchyLevelLimitExceededException",
    "HierarchyTypeMismatchException",
    "UnsupportedParameterType",
    "ParameterPatternMismatchException",
    "InvalidKeyId",
    "MalformedPolicyDocumentException",
];
const DECRYPTION: &[&str] = &[
    "DecryptionFailure",
    "KMSDisabledException",
    "KMSNotFoundException",
];

/// What a failed SDK call means for the protocol.
pub fn failed<E>(
    error: SdkError<E, HttpResponse>,
    call: &Call,
    settings: &Settings,
) -> ProviderError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let what = format!("{} on {}", call.action, call.resource);
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = match (error.code(), status) {
        (Some(code), _) => code.to_string(),
        // An answer the SDK could not read a code from (moto answers IAM's refusal of a
        // JSON-protocol call in XML): its HTTP status still says refused.
        (None, Some(401 | 403)) => "AccessDenied".to_string(),
        (None, _) => String::new(),
    };
    let said = error.message().unwrap_or_default().to_string();
    let said = scrub(&said, settings);
    let quoted = |text: &str| {
        if text.is_empty() || call.writes {
            String::new()
        } else {
            format!(" (AWS said: {text})")
        }
    };
    let kind_and_message = match &error {
        SdkError::ServiceError(_) => {
            if EXPIRED.contains(&code.as_str()) {
                (
                    ErrorKind::Denied,
                    format!(
                        "AWS refused {what}: the session token has expired ({}); get new \
                         credentials (a new AWS_SESSION_TOKEN with its key pair, or \
                         `aws sso login`) and try again",
                        settings.credentials_source()
                    ),
                )
            } else if DENIED.contains(&code.as_str()) {
                (
                    ErrorKind::Denied,
                    format!(
                        "AWS denied {what} to {}: {code}{}; grant the permission in IAM or \
                         use other credentials",
                        settings.credentials_source(),
                        quoted(&said)
                    ),
                )
            } else if NOT_FOUND.contains(&code.as_str()) {
                (
                    ErrorKind::NotFound,
                    format!("{} does not exist", call.resource),
                )
            } else if THROTTLED.contains(&code.as_str()) {
                (
                    ErrorKind::Unavailable,
                    format!(
                        "AWS kept throttling {what} ({code}) after retries with backoff; try \
                         again later, or ask for a higher request quota"
                    ),
                )
            } else if DECRYPTION.contains(&code.as_str()) {
                (
                    ErrorKind::Denied,
                    format!(
                        "AWS could not decrypt for {what} with KMS: {code}{}; grant \
                         kms:Decrypt on the secret's key",
                        quoted(&said)
                    ),
                )
            } else if INVALID.contains(&code.as_str()) {
                (
                    ErrorKind::Invalid,
                    format!("AWS refused {what}: {code}{}", quoted(&said)),
                )
            } else {
                (
                    ErrorKind::Unavailable,
                    format!(
                        "AWS failed {what}: {}{}",
                        if code.is_empty() { "an error" } else { &code },
                        quoted(&said)
                    ),
                )
            }
        }
        SdkError::TimeoutError(_) => (
            ErrorKind::Unavailable,
            format!(
                "AWS did not answer {what} within {} s (timeout_seconds under [providers.aws])",
                settings.timeout.as_secs()
            ),
        ),
        SdkError::ConstructionFailure(_) => construction(&error, call, &what, settings),
        // The credential chain runs when a request is sent: finding nothing is a dispatch
        // failure.
        _ if chain(&error).contains("no credentials found") => no_credentials(&what),
        _ if chain(&error).contains("loading credentials") => (
            ErrorKind::Denied,
            format!(
                "AWS gave no credentials for {what}{}{}",
                match &settings.role_arn {
                    Some(role) => format!(
                        " when asked to assume {role} (sts:AssumeRole; check role_arn, \
                         external_id and the role's trust policy)"
                    ),
                    None => String::new(),
                },
                sdk_said(&error, call, settings)
            ),
        ),
        _ => (
            ErrorKind::Unavailable,
            format!(
                "AWS could not be reached for {what}{}{}; check region and endpoint_url \
                 under [providers.aws], and the network",
                sdk_said(&error, call, settings),
                untrusted_certificate(&error)
            ),
        ),
    };
    ProviderError::new(kind_and_message.0, kind_and_message.1)
}

/// A request that could not be made: most often no credentials or no region.
fn construction<E>(
    error: &SdkError<E, HttpResponse>,
    call: &Call,
    what: &str,
    settings: &Settings,
) -> (ErrorKind, String)
where
    E: Error + 'static,
{
    let chain = chain(error);
    if chain.contains("credentials") {
        return no_credentials(what);
    }
    if chain.contains("region") {
        return (
            ErrorKind::Invalid,
            format!(
                "no AWS region for {what}; set region under [providers.aws], or AWS_REGION, \
                 or a region in the profile"
            ),
        );
    }
    (
        ErrorKind::Invalid,
        format!(
            "AWS request {what} could not be made{}",
            sdk_said(error, call, settings)
        ),
    )
}

/// The SDK's own account of a failure, as `: TEXT` — or nothing on a write: the SDK's
/// errors can carry the request, and a write's request body is the value. A read's text is
/// cut before any request it quotes, and has the credentials scrubbed.
fn sdk_said(error: &(dyn Error + 'static), call: &Call, settings: &Settings) -> String {
    if call.writes {
        return String::new();
    }
    let text = chain(error);
    let text = match text.find(REQUEST_QUOTED) {
        Some(at) => &text[..=at],
        None => &text,
    };
    format!(": {}", scrub(text, settings))
}

/// Why a connection failed when it was the endpoint's certificate: the SDK's summary
/// ("io error") leaves it to the causes, which are only looked at here, never shown.
fn untrusted_certificate(error: &(dyn Error + 'static)) -> &'static str {
    let full = format!("{error:?} {}", DisplayErrorContext(error));
    if full.contains("InvalidCertificate") || full.contains("UnknownIssuer") {
        "; the endpoint's TLS certificate is not trusted (AWS_CA_BUNDLE names a PEM file of \
         the CA certificates to trust)"
    } else {
        ""
    }
}

/// Where the SDK starts quoting the request it could not send (`failed to apply endpoint
/// `…` to request `Request { body: … }``).
const REQUEST_QUOTED: &str = "` to request `";

fn no_credentials(what: &str) -> (ErrorKind, String) {
    (
        ErrorKind::Denied,
        format!(
            "no AWS credentials for {what} (the SDK looked in the configuration, the \
             environment, the profile, web identity, ECS and instance metadata); set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY where vault runs, or a profile \
             (AWS_PROFILE, or profile under [providers.aws]), or run where an instance or \
             task role applies"
        ),
    )
}

/// The error and its causes on one line, without the SDK's debug dump that follows them.
fn chain(error: &(dyn Error + 'static)) -> String {
    let text = DisplayErrorContext(error).to_string();
    let dump = text
        .match_indices(" (")
        .find(|(at, _)| text[at + 2..].starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|(at, _)| at);
    match dump {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// `text` without the configured credentials in it, should AWS ever echo them.
fn scrub(text: &str, settings: &Settings) -> String {
    let Some(keys) = &settings.keys else {
        return text.to_string();
    };
    let mut out = text.replace(
        keys.access_key_id.as_str(),
        &redacted_key_id(&keys.access_key_id),
    );
    for secret in [Some(&keys.secret_access_key), keys.session_token.as_ref()]
        .into_iter()
        .flatten()
    {
        if !secret.is_empty() {
            out = out.replace(secret.as_str(), "…");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn settings() -> Settings {
        let config = serde_json::json!({
            "access_key_id": KEY_ID,
            "secret_access_key": SECRET_KEY,
            "session_token": "session-token-value",
        });
        Settings::from_config(config.as_object().unwrap()).unwrap()
    }

    /// What AWS answering `status` with `code` and `message` makes of `call`.
    fn answered(status: u16, code: Option<&str>, message: &str, writes: bool) -> ProviderError {
        let mut metadata = ErrorMetadata::builder().message(message);
        if let Some(code) = code {
            metadata = metadata.code(code);
        }
        let error = SdkError::service_error(
            GetSecretValueError::generic(metadata.build()),
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        );
        let call = Call {
            action: "secretsmanager:PutSecretValue",
            resource: "prod/db",
            writes,
        };
        failed(error, &call, &settings())
    }

    #[test]
    fn each_refusal_is_its_kind_naming_action_and_resource_never_a_key() {
        let table: &[(u16, Option<&str>, ErrorKind, &str)] = &[
            (
                400,
                Some("AccessDeniedException"),
                ErrorKind::Denied,
                "AWS denied secretsmanager:PutSecretValue on prod/db to the access key AKIA…MPLE",
            ),
            (
                403,
                None,
                ErrorKind::Denied,
                "AWS denied secretsmanager:PutSecretValue on prod/db",
            ),
            (
                400,
                Some("ExpiredTokenException"),
                ErrorKind::Denied,
                "the session token has expired",
            ),
            (
                400,
                Some("ResourceNotFoundException"),
                ErrorKind::NotFound,
                "prod/db does not exist",
            ),
            (
                400,
                Some("ThrottlingException"),
                ErrorKind::Unavailable,
                "kept throttling secretsmanager:PutSecretValue on prod/db",
            ),
            (
                400,
                Some("ValidationException"),
                ErrorKind::Invalid,
                "AWS refused secretsmanager:PutSecretValue on prod/db",
            ),
            (
                500,
                Some("InternalServiceError"),
                ErrorKind::Unavailable,
                "AWS failed secretsmanager:PutSecretValue on prod/db",
            ),
        ];
        for (status, code, kind, said) in table {
            let error = answered(
                *status,
                *code,
                &format!("as {KEY_ID} / {SECRET_KEY}"),
                false,
            );
            assert_eq!(error.kind, *kind, "{code:?}: {error}");
            assert!(error.message.contains(said), "{code:?}: {error}");
            for never in [KEY_ID, SECRET_KEY, "session-token-value"] {
                assert!(!error.message.contains(never), "{code:?}: {error}");
            }
        }
    }

    #[test]
    fn a_failed_write_leaves_out_what_aws_said_about_the_value() {
        let error = answered(
            400,
            Some("ValidationException"),
            "value 'the-new-secret' failed to satisfy constraint",
            true,
        );
        assert_eq!(error.kind, ErrorKind::Invalid);
        assert!(!error.message.contains("the-new-secret"), "{error}");
        // A refusal of permission is named by its code, without AWS's words, which may
        // echo the request (the other fields of a field write).
        let denied = answered(
            400,
            Some("AccessDeniedException"),
            "denied for {\"host\":\"new\",\"password\":\"other-field\"}",
            true,
        );
        assert_eq!(denied.kind, ErrorKind::Denied);
        assert!(denied.message.contains("AccessDeniedException"), "{denied}");
        assert!(!denied.message.contains("other-field"), "{denied}");
        // A read's refusal still quotes AWS.
        let read = answered(400, Some("AccessDeniedException"), "no kms:Decrypt", false);
        assert!(read.message.contains("no kms:Decrypt"), "{read}");
    }

    #[test]
    fn the_sdks_text_stops_before_the_request_and_is_left_out_of_writes() {
        let error = std::io::Error::other(
            "failed to apply endpoint `x.example.com` to request `Request { body: \
             SdkBody { inner: Once(Some(b\"the-new-secret\")) } }`: endpoint must contain scheme",
        );
        let read = Call {
            action: "secretsmanager:GetSecretValue",
            resource: "prod/db",
            writes: false,
        };
        let said = sdk_said(&error, &read, &settings());
        assert_eq!(said, ": failed to apply endpoint `x.example.com`");
        let write = Call {
            writes: true,
            ..read
        };
        assert_eq!(sdk_said(&error, &write, &settings()), "");
    }
}
