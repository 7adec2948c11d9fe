//! The server's certificate: read from PEM files (`--tls-cert`, `--tls-key`), or generated at
//! start (`--tls-self-signed`), and the SHA-256 fingerprint people compare it by.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

/// A certificate chain (the server's first) and its private key.
#[derive(Debug)]
pub struct CertifiedKey {
    /// The chain, the server's own certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of the first certificate.
    pub key: PrivateKeyDer<'static>,
}

impl CertifiedKey {
    /// Reads the chain from the PEM file `cert` and the key (PKCS#8, PKCS#1 or SEC1) from the PEM
    /// file `key`. The error names the file.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read certificates from {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("no certificate in {}", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("cannot read a private key from {}: {e}", key.display()))?;
        Ok(CertifiedKey { chain, key })
    }

    /// A new self-signed certificate for `localhost`, `127.0.0.1` and `::1`, with a new key.
    pub fn self_signed() -> Result<CertifiedKey, String> {
        let names = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        let generated = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("cannot generate a self-signed certificate: {e}"))?;
        let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
        Ok(CertifiedKey {
            chain: vec![generated.cert.der().clone()],
            key: key.into(),
        })
    }

    /// The SHA-256 fingerprint of the server's certificate, as `AB:CD:...`.
    pub fn fingerprint(&self) -> String {
        self.chain
            .first()
            .map(|c| fingerprint(c))
            .unwrap_or_default()
    }
}

/// The SHA-256 fingerprint of the DER bytes `der`, as upper-case hex pairs joined by `:`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_round_trips_through_pem_files() {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        let read = CertifiedKey::from_pem_files(&cert, &key).unwrap();
        assert_eq!(read.chain, vec![generated.cert.der().clone()]);
        assert_eq!(read.fingerprint(), fingerprint(generated.cert.der()));
        assert_eq!(read.fingerprint().len(), 32 * 3 - 1);

        let e = CertifiedKey::from_pem_files(&key, &key).unwrap_err();
        assert!(e.contains("no certificate in"), "{e}");
        let e = CertifiedKey::from_pem_files(&cert, &cert).unwrap_err();
        assert!(e.contains("cannot read a private key from"), "{e}");
        let e = CertifiedKey::from_pem_files(&dir.path().join("x"), &key).unwrap_err();
        assert!(e.contains("cannot read certificates from"), "{e}");
    }

    #[test]
    fn each_self_signed_certificate_is_new() {
        let a = CertifiedKey::self_signed().unwrap();
        let b = CertifiedKey::self_signed().unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}
