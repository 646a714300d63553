//! The rustls client configuration of the subscriber connection, built the
//! way redis-rs 1.8 builds its own for `rediss://` URLs: system roots
//! (rustls-native-certs) unless a root CA is given, optional client
//! certificate (mutual TLS), and `#insecure` (no verification) only with
//! the `tls-insecure` feature.

use std::sync::Arc;

use redis::{ErrorKind, RedisError, RedisResult, TlsCertificates};
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn invalid(what: &'static str, detail: impl ToString) -> RedisError {
    RedisError::from((ErrorKind::InvalidClientConfig, what, detail.to_string()))
}

/// The client configuration for one `rediss://` endpoint.
///
/// # Errors
/// `InvalidClientConfig` when a PEM does not parse, when the client
/// certificate and key do not fit, or for `insecure` without the
/// `tls-insecure` feature.
pub(crate) fn client_config(
    insecure: bool,
    certs: Option<&TlsCertificates>,
) -> RedisResult<Arc<rustls::ClientConfig>> {
    crate::config::ensure_crypto_provider();
    let mut roots = RootCertStore::empty();
    match certs.and_then(|c| c.root_cert.as_deref()) {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| invalid("bad root CA PEM", e))?;
                roots
                    .add(cert)
                    .map_err(|e| invalid("bad root CA certificate", e))?;
            }
        }
        None => {
            let loaded = rustls_native_certs::load_native_certs();
            if let Some(e) = loaded.errors.first() {
                tracing::debug!(error = %e, "some system root certificates could not be loaded");
            }
            // Unparsable system certificates are skipped, as browsers do.
            let _ = roots.add_parsable_certificates(loaded.certs);
        }
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    #[allow(unused_mut)]
    let mut config = match certs.and_then(|c| c.client_tls.as_ref()) {
        Some(client) => {
            let chain = CertificateDer::pem_slice_iter(&client.client_cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid("bad client certificate PEM", e))?;
            let key = PrivateKeyDer::from_pem_slice(&client.client_key)
                .map_err(|e| invalid("bad client key PEM", e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid("client certificate and key do not fit", e))?
        }
        None => builder.with_no_client_auth(),
    };
    if insecure {
        #[cfg(feature = "tls-insecure")]
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(insecure::AcceptAnything::new()));
        #[cfg(not(feature = "tls-insecure"))]
        return Err(invalid(
            "`#insecure` needs the `tls-insecure` feature",
            "certificate verification cannot be turned off in this build",
        ));
    }
    Ok(Arc::new(config))
}

#[cfg(feature = "tls-insecure")]
mod insecure {
    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    /// Accepts any server certificate (still checks handshake signatures).
    #[derive(Debug)]
    pub(super) struct AcceptAnything(CryptoProvider);

    impl AcceptAnything {
        pub(super) fn new() -> Self {
            AcceptAnything(rustls::crypto::ring::default_provider())
        }
    }

    impl ServerCertVerifier for AcceptAnything {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
