//! Mapping a verified peer certificate to its chapar identity.

use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

use crate::CertError;
use crate::ca::parse_cert;
use crate::identity::{Identity, URN_PREFIX};

/// What chapar needs to know about a verified peer certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerCert {
    /// The identity in the certificate's `urn:chapar:` SAN URI.
    pub identity: Identity,
    /// The certificate's serial number.
    pub serial: u64,
    /// The certificate's expiry.
    pub not_after: OffsetDateTime,
}

/// Maps a verified end-entity certificate (DER, e.g. the first entry of
/// `quinn::Connection::peer_identity()`) to its identity, serial and expiry.
///
/// The certificate must carry exactly one SAN URI starting with `urn:chapar:`, and it must be
/// well-formed; the serial must be positive and fit in a `u64`. This does **not** verify the
/// certificate: call it only on certificates rustls has verified during the handshake.
pub fn peer_identity(cert_der: &[u8]) -> Result<PeerCert, CertError> {
    let cert = parse_cert(cert_der, "peer certificate")?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertError::Parse {
            what: "peer certificate".to_owned(),
            reason: format!("subjectAltName: {e}"),
        })?;
    let uris: Vec<&str> = san
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) if u.starts_with(URN_PREFIX) => Some(*u),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let identity = match uris.as_slice() {
        [] => return Err(CertError::NoIdentity),
        [one] => Identity::parse_uri(one)?,
        many => return Err(CertError::MultipleIdentities(many.len())),
    };
    Ok(PeerCert {
        identity,
        serial: serial_u64(cert.raw_serial())?,
        not_after: cert.validity().not_after.to_datetime(),
    })
}

/// The DNS names and IP addresses (SAN) of a certificate (DER): what a renewal carries
/// over to the new certificate.
pub fn cert_host_names(cert_der: &[u8]) -> Result<(Vec<String>, Vec<std::net::IpAddr>), CertError> {
    let cert = parse_cert(cert_der, "certificate")?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertError::Parse {
            what: "certificate".to_owned(),
            reason: format!("subjectAltName: {e}"),
        })?;
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(d) => dns.push((*d).to_owned()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => ips.push(std::net::IpAddr::from(
                    <[u8; 4]>::try_from(*b).unwrap_or_default(),
                )),
                16 => ips.push(std::net::IpAddr::from(
                    <[u8; 16]>::try_from(*b).unwrap_or_default(),
                )),
                _ => {}
            },
            _ => {}
        }
    }
    Ok((dns, ips))
}

/// Decodes a DER INTEGER's content bytes as a positive `u64`.
pub(crate) fn serial_u64(raw: &[u8]) -> Result<u64, CertError> {
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(CertError::Serial("negative serial number".to_owned()));
    }
    let start = raw.iter().take_while(|b| **b == 0).count();
    let digits = &raw[start..];
    if digits.len() > 8 {
        return Err(CertError::Serial(format!(
            "serial of {} bytes does not fit in 64 bits; not a chapar leaf certificate",
            digits.len()
        )));
    }
    let value = digits
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if value == 0 {
        return Err(CertError::Serial("serial number 0".to_owned()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::serial_u64;

    #[test]
    fn serials() {
        assert_eq!(serial_u64(&[0x01]).unwrap(), 1);
        assert_eq!(serial_u64(&[0x00, 0xff]).unwrap(), 255);
        assert_eq!(
            serial_u64(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap(),
            u64::MAX
        );
        assert!(serial_u64(&[0x80]).is_err());
        assert!(serial_u64(&[0x00]).is_err());
        assert!(serial_u64(&[1, 2, 3, 4, 5, 6, 7, 8, 9]).is_err());
    }
}
