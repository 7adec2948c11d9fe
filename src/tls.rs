//! FTPS (RFC 4217) as the core sees it: TLS *state*, never TLS bytes.
//!
//! The runtime runs the handshakes; the session tells it when ([`Output::SecureControl`],
//! [`Output::ClearControl`], [`DataProtection`] in [`Output::StartTransfer`]) and hears how they
//! went ([`Input::ControlSecured`] with a [`TlsInfo`], [`Input::ControlTlsFailed`],
//! [`TransferError::TlsFailed`], [`TransferError::TlsNotResumed`]). What is required of whom is
//! the [`TlsPolicy`] in [`Config::tls`].
//!
//! [`Output::SecureControl`]: crate::Output::SecureControl
//! [`Output::ClearControl`]: crate::Output::ClearControl
//! [`Output::StartTransfer`]: crate::Output::StartTransfer
//! [`Input::ControlSecured`]: crate::Input::ControlSecured
//! [`Input::ControlTlsFailed`]: crate::Input::ControlTlsFailed
//! [`TransferError::TlsFailed`]: crate::TransferError::TlsFailed
//! [`TransferError::TlsNotResumed`]: crate::TransferError::TlsNotResumed
//! [`Config::tls`]: crate::Config::tls

use std::collections::BTreeMap;

/// What the runtime learnt from a finished TLS handshake on the control connection, for
/// [`Input::ControlSecured`](crate::Input::ControlSecured). The session shows the version and
/// cipher in `STAT`; the rest is there for the runtime's logs and for policies to come.
///
/// Build it with [`TlsInfo::new`] and the `with_*` setters (new fields may come).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version, as the runtime names it (`TLSv1.3`).
    pub version: String,
    /// The cipher suite, as the runtime names it (`TLS13_AES_128_GCM_SHA256`).
    pub cipher: String,
    /// The server name the client asked for (SNI), if it sent one.
    pub sni: Option<String>,
    /// The application protocol agreed with ALPN (`ftp`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The client certificate, if the client presented one the runtime accepted: a subject or a
    /// fingerprint, as text.
    pub client_certificate: Option<String>,
    /// Whether the handshake resumed an earlier TLS session.
    pub resumed: bool,
}

impl TlsInfo {
    /// A full handshake with this version and cipher, no SNI, ALPN or client certificate.
    pub fn new(version: impl Into<String>, cipher: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            cipher: cipher.into(),
            sni: None,
            alpn: None,
            client_certificate: None,
            resumed: false,
        }
    }

    /// Sets the server name the client asked for.
    #[must_use]
    pub fn with_sni(mut self, sni: impl Into<String>) -> Self {
        self.sni = Some(sni.into());
        self
    }

    /// Sets the protocol agreed with ALPN.
    #[must_use]
    pub fn with_alpn(mut self, alpn: impl Into<Vec<u8>>) -> Self {
        self.alpn = Some(alpn.into());
        self
    }

    /// Sets the client certificate's subject or fingerprint.
    #[must_use]
    pub fn with_client_certificate(mut self, certificate: impl Into<String>) -> Self {
        self.client_certificate = Some(certificate.into());
        self
    }

    /// Sets whether the handshake resumed an earlier session.
    #[must_use]
    pub fn with_resumed(mut self, resumed: bool) -> Self {
        self.resumed = resumed;
        self
    }
}

/// How a transfer's data connection is protected (`PROT`, RFC 4217 section 9), carried by
/// [`Output::StartTransfer`](crate::Output::StartTransfer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DataProtection {
    /// `PROT C` (and the default of explicit FTPS): the bytes cross as they are.
    #[default]
    Clear,
    /// `PROT P` (and the default of implicit FTPS): the runtime runs a TLS server handshake on
    /// the data connection after the `150`, before any byte moves, and moves the bytes through
    /// TLS.
    Private,
}

/// For whom a [`TlsPolicy`] requires TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TlsRequirement {
    /// Nobody: TLS is the client's choice.
    #[default]
    Optional,
    /// Every name that is not one of [`TlsPolicy::anonymous_names`].
    Accounts,
    /// Everyone, anonymous users included.
    Everyone,
}

/// What TLS the server offers and requires, in [`Config::tls`](crate::Config::tls). The default
/// offers none: `AUTH`, `PBSZ`, `PROT` and `CCC` get `502` and `FEAT` lists none of them, as a
/// server without FTPS.
///
/// The requirements are enforced whether or not TLS is [`available`](Self::available): a
/// runtime that cannot offer TLS must not require it (nobody could log in).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsPolicy {
    /// Whether `AUTH TLS` is offered (the runtime has a certificate). Default false.
    pub available: bool,
    /// Who must secure the control connection before logging in: checked at `USER`, so that no
    /// password of theirs crosses in clear text (`530` otherwise). Default
    /// [`TlsRequirement::Optional`].
    pub control: TlsRequirement,
    /// Who must protect data connections with `PROT P`: a transfer or listing under `PROT C`
    /// gets `522` before any data-connection work. Default [`TlsRequirement::Optional`].
    pub data: TlsRequirement,
    /// Whether `CCC` may turn the control connection back to clear text after login (for
    /// firewalls that must read `PORT`/`PASV`). Default false (`CCC` gets `502`).
    pub allow_ccc: bool,
    /// Per-user "TLS required", from the users file: `true` requires TLS of that name for the
    /// control connection and for data connections, `false` requires it for neither, whatever
    /// [`control`](Self::control) and [`data`](Self::data) say. Names compare exactly.
    pub user_overrides: BTreeMap<String, bool>,
    /// The names that count as anonymous for [`TlsRequirement::Accounts`], compared ignoring
    /// ASCII case. Default `anonymous` and `ftp`.
    pub anonymous_names: Vec<String>,
}

impl Default for TlsPolicy {
    fn default() -> Self {
        Self {
            available: false,
            control: TlsRequirement::Optional,
            data: TlsRequirement::Optional,
            allow_ccc: false,
            user_overrides: BTreeMap::new(),
            anonymous_names: vec!["anonymous".to_owned(), "ftp".to_owned()],
        }
    }
}

impl TlsPolicy {
    /// Whether `user` counts as anonymous.
    pub fn is_anonymous(&self, user: &str) -> bool {
        self.anonymous_names
            .iter()
            .any(|name| name.eq_ignore_ascii_case(user))
    }

    /// Whether `user` must secure the control connection before logging in.
    pub fn control_required_for(&self, user: &str) -> bool {
        self.required(self.control, user)
    }

    /// Whether `user`'s transfers and listings must run under `PROT P`.
    pub fn data_required_for(&self, user: &str) -> bool {
        self.required(self.data, user)
    }

    fn required(&self, requirement: TlsRequirement, user: &str) -> bool {
        if let Some(&required) = self.user_overrides.get(user) {
            return required;
        }
        match requirement {
            TlsRequirement::Optional => false,
            TlsRequirement::Accounts => !self.is_anonymous(user),
            TlsRequirement::Everyone => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_by_name() {
        let mut policy = TlsPolicy {
            control: TlsRequirement::Accounts,
            data: TlsRequirement::Everyone,
            ..TlsPolicy::default()
        };
        assert!(policy.control_required_for("bob"));
        assert!(!policy.control_required_for("Anonymous"));
        assert!(!policy.control_required_for("FTP"));
        assert!(policy.data_required_for("anonymous"));
        policy.user_overrides.insert("bob".to_owned(), false);
        policy.user_overrides.insert("ftp".to_owned(), true);
        assert!(!policy.control_required_for("bob"));
        assert!(!policy.data_required_for("bob"));
        assert!(policy.control_required_for("ftp"));
        // Overrides compare exactly: `FTP` is still anonymous, not the overridden `ftp`.
        assert!(!policy.control_required_for("FTP"));
        assert!(!TlsPolicy::default().control_required_for("bob"));
    }
}
