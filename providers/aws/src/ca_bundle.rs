//! `AWS_CA_BUNDLE`, as the AWS CLI reads it: a PEM file whose certificates are the only
//! roots trusted for AWS's endpoints (a TLS-inspecting proxy's CA, a private endpoint's).

use std::path::Path;

use aws_smithy_http_client::tls::TrustStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use secretsd_protocol::{ErrorKind, ProviderError};

/// The trust store of the bundle at `path`. Every certificate is checked here as rustls
/// will load it, because the SDK's client panics on one it cannot parse.
pub fn trust_store(path: &Path) -> Result<TrustStore, ProviderError> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| invalid(format!("cannot read AWS_CA_BUNDLE {shown}: {e}")))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("AWS_CA_BUNDLE {shown} is not valid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(invalid(format!(
            "AWS_CA_BUNDLE {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|e| {
            invalid(format!(
                "AWS_CA_BUNDLE {shown} holds a certificate that cannot be a root: {e}"
            ))
        })?;
    }
    Ok(TrustStore::empty().with_pem_certificate(pem))
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}
