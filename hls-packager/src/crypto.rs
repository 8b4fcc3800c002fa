//! AES-128 segment encryption (RFC 8216 4.3.2.4, 5.2): AES-128-CBC over the whole segment,
//! PKCS7 padding, with the IV in the playlist.

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};

type Encryptor = cbc::Encryptor<aes::Aes128>;

/// A content key and the URI players fetch it from.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey {
    /// The 16-byte key.
    pub key: [u8; 16],
    /// The URI written in `EXT-X-KEY` (relative to the playlist, or absolute).
    pub uri: String,
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesKey")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// Supplies a key for each key period (`media sequence / rotate_every`). The application
/// generates keys (the packager has no randomness) and makes them reachable at `uri`.
pub trait KeySource: Send {
    /// The key of `period`. Called once when the period starts.
    fn key(&mut self, period: u64) -> AesKey;
}

/// One key for every period.
#[derive(Debug, Clone)]
pub struct StaticKey(pub AesKey);

impl KeySource for StaticKey {
    fn key(&mut self, _period: u64) -> AesKey {
        self.0.clone()
    }
}

impl<F: FnMut(u64) -> AesKey + Send> KeySource for F {
    fn key(&mut self, period: u64) -> AesKey {
        self(period)
    }
}

/// Encrypts a whole segment with AES-128-CBC and PKCS7 padding.
pub(crate) fn encrypt_segment(key: &[u8; 16], iv: u128, data: &[u8]) -> Vec<u8> {
    Encryptor::new(key.into(), &iv.to_be_bytes().into()).encrypt_padded_vec_mut::<Pkcs7>(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn matches_openssl_aes_128_cbc() {
        // printf 'hello hls' | openssl enc -aes-128-cbc -K 000102..0f -iv 00..01 | xxd -p
        let key = hex!("000102030405060708090a0b0c0d0e0f");
        let out = encrypt_segment(&key, 1, b"hello hls");
        assert_eq!(out.len(), 16);
        assert_eq!(out, hex!("b4167f7031cb6f858d1b67850dcb9bf3"));
        assert_eq!(encrypt_segment(&key, 1, &[0; 16]).len(), 32);
    }
}
