//! Key rotation: one key per period of `rotate_every` segments, asked of the application's
//! [`KeySource`](crate::KeySource) once when the period starts; the IV is the media sequence
//! number (RFC 8216 5.2).

use super::Packager;
use crate::crypto::AesKey;

impl Packager {
    /// The key and IV of segment `msn`; `None` without encryption.
    pub(super) fn segment_key(&mut self, msn: u64) -> Option<(AesKey, u128)> {
        let enc = self.config.encryption.as_mut()?;
        let period = if enc.rotate_every == 0 {
            0
        } else {
            msn / u64::from(enc.rotate_every)
        };
        match &self.key {
            Some((p, key)) if *p == period => Some((key.clone(), u128::from(msn))),
            _ => {
                let key = enc.keys.key(period);
                self.key = Some((period, key.clone()));
                Some((key, u128::from(msn)))
            }
        }
    }
}
