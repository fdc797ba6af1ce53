//! Certificate revocation lists: what the CA signs, and reading them back.

use time::OffsetDateTime;

use crate::CertError;
use crate::pem::read_crls_pem;

/// One revoked certificate, as listed in a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevokedCert {
    /// Serial number of the revoked certificate.
    pub serial: u64,
    /// When the CA revoked it.
    pub revoked_at: OffsetDateTime,
}

/// The contents of a parsed CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    /// The CRL number (monotonic per CA); `None` if absent or too large for `u64`.
    pub crl_number: Option<u64>,
    /// When the CRL was issued.
    pub this_update: OffsetDateTime,
    /// When the next CRL is due; past this instant the CRL is stale: chapar still refuses
    /// every certificate it lists, and warns (ADR 0014).
    pub next_update: Option<OffsetDateTime>,
    /// Revoked certificates (serials that do not fit a `u64` are not chapar's and are skipped).
    pub revoked: Vec<RevokedCert>,
    /// DER of the issuer name (to compare with a CA's subject).
    pub issuer_raw: Vec<u8>,
}

impl CrlInfo {
    /// True if `serial` is listed.
    pub fn is_revoked(&self, serial: u64) -> bool {
        self.revoked.iter().any(|r| r.serial == serial)
    }

    /// True if the CRL has no `next_update` or it lies at or before `now`.
    pub fn is_stale(&self, now: OffsetDateTime) -> bool {
        self.next_update.is_none_or(|n| n <= now)
    }
}

/// Parses one DER CRL.
pub fn parse_crl_der(der: &[u8]) -> Result<CrlInfo, CertError> {
    let crl = match x509_parser::parse_x509_crl(der) {
        Ok(([], crl)) => crl,
        Ok(_) => {
            return Err(CertError::Parse {
                what: "CRL".to_owned(),
                reason: "trailing bytes after the CRL".to_owned(),
            });
        }
        Err(e) => {
            return Err(CertError::Parse {
                what: "CRL".to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let crl_number = crl.crl_number().and_then(|n| u64::try_from(n).ok());
    let revoked = crl
        .iter_revoked_certificates()
        .filter_map(|r| {
            Some(RevokedCert {
                serial: u64::try_from(r.serial()).ok()?,
                revoked_at: r.revocation_date.to_datetime(),
            })
        })
        .collect();
    Ok(CrlInfo {
        crl_number,
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
        revoked,
        issuer_raw: crl.issuer().as_raw().to_vec(),
    })
}

/// Parses a PEM holding exactly one CRL.
pub fn parse_crl_pem(pem: &str) -> Result<CrlInfo, CertError> {
    let crls = read_crls_pem(pem, "CRL")?;
    if crls.len() != 1 {
        return Err(CertError::Pem {
            what: "CRL".to_owned(),
            reason: format!("found {} CRLs, expected exactly one", crls.len()),
        });
    }
    parse_crl_der(&crls[0])
}
