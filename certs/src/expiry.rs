//! When certificates and CRLs run out, so that nodes and clients can warn early.
//!
//! chapar warns [`WARN_BEFORE`] (14 days) ahead: enough for a ministry administrator to
//! renew and for the files to reach a remote mission.

use time::{Duration, OffsetDateTime};

use crate::CertError;
use crate::ca::parse_cert;
use crate::crl::parse_crl_der;
use crate::pem::{read_cert_pem, read_crls_pem};

/// How long before a certificate or CRL expires chapar starts warning.
pub const WARN_BEFORE: Duration = Duration::days(14);

/// A deadline that falls within [`WARN_BEFORE`] of now, or has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// When it runs out.
    pub at: OffsetDateTime,
    /// Whole days left, rounded down; negative once past.
    pub days_left: i64,
    /// Already past.
    pub expired: bool,
}

/// `Some` if `at` is within [`WARN_BEFORE`] of `now` or already past.
pub fn due(at: OffsetDateTime, now: OffsetDateTime) -> Option<Due> {
    let left = at - now;
    (left <= WARN_BEFORE).then(|| Due {
        at,
        days_left: if left.is_negative() {
            -((-left).whole_days()) - i64::from((-left).whole_seconds() % 86_400 != 0)
        } else {
            left.whole_days()
        },
        expired: left <= Duration::ZERO,
    })
}

/// Expiry (`notAfter`) of the one certificate in `pem`.
pub fn cert_not_after(pem: &str, what: &str) -> Result<OffsetDateTime, CertError> {
    let der = read_cert_pem(pem, what)?;
    Ok(parse_cert(&der, what)?.validity().not_after.to_datetime())
}

/// The CRL number and `nextUpdate` of the first CRL in `pem` (`None` if it has none).
pub fn crl_next_update(
    pem: &str,
    what: &str,
) -> Result<(Option<u64>, Option<OffsetDateTime>), CertError> {
    let crls = read_crls_pem(pem, what)?;
    let info = parse_crl_der(&crls[0])?;
    Ok((info.crl_number, info.next_update))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_from_fourteen_days_before() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(due(now + Duration::days(15), now), None);
        assert_eq!(due(now + WARN_BEFORE + Duration::seconds(1), now), None);
        let d = due(now + WARN_BEFORE, now).unwrap();
        assert_eq!((d.days_left, d.expired), (14, false));
        let d = due(now + Duration::hours(30), now).unwrap();
        assert_eq!((d.days_left, d.expired), (1, false));
        let d = due(now, now).unwrap();
        assert_eq!((d.days_left, d.expired), (0, true));
        let d = due(now - Duration::hours(1), now).unwrap();
        assert_eq!((d.days_left, d.expired), (-1, true));
        let d = due(now - Duration::days(3), now).unwrap();
        assert_eq!((d.days_left, d.expired), (-3, true));
    }
}
