//! The portal's TLS: the instructor's own certificate and key, or a
//! self-signed certificate made on first start and kept in the state
//! directory (key 0600), so that laptops that accepted it once are not
//! asked again after a restart.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::auth::write_secret;

/// Where the portal's own certificate is kept.
pub fn self_signed_paths(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The certificate made once for this machine's names, or the one made
/// before. Returns the paths of the certificate and key.
pub fn ensure_self_signed(
    dir: &Path,
    names: &[String],
) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = self_signed_paths(dir);
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let made = rcgen::generate_simple_self_signed(names.to_vec())
        .context("failed to make the portal's self-signed certificate")?;
    write_secret(&key, made.signing_key.serialize_pem().as_bytes())?;
    fs::write(&cert, made.cert.pem())
        .with_context(|| format!("failed to write {}", cert.display()))?;
    Ok((cert, key))
}

/// A TLS acceptor for the certificate chain and key in PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("failed to read the certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("failed to read the certificate {}", cert.display()))?;
    if chain.is_empty() {
        return Err(anyhow!(
            "{} holds no certificate (PEM, `-----BEGIN CERTIFICATE-----`)",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("failed to read the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("failed to set up TLS")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_certificate_is_made_once_with_a_private_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "noglab-portal-tls-{}",
            super::super::auth::random_token()
        ));
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (cert, key) = ensure_self_signed(&dir, &names).expect("made");
        let first = fs::read(&cert).expect("cert");
        ensure_self_signed(&dir, &names).expect("kept");
        assert_eq!(fs::read(&cert).expect("cert"), first);
        let mode = fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        acceptor(&cert, &key).expect("usable");
        let err = acceptor(&key, &key).err().expect("a key is no certificate");
        assert!(
            format!("{err:#}").contains("holds no certificate"),
            "{err:#}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
