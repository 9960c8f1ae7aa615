//! Keys of one message: the data key from KMS, and what suite 0x0478 derives from it with
//! HKDF-SHA512 (aws-lc-rs) salted with the message id: the AES-256-GCM content key
//! (info = suite id ‖ "DERIVEKEY") and the 32-byte commitment key (info = "COMMITKEY").

use super::format::{self, COMMITMENT_LEN, IV_LEN, MESSAGE_ID_LEN, SUITE_ID, TAG_LEN};
use super::CryptoError;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};
use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA512};

pub const DATA_KEY_LEN: usize = 32;

/// A plaintext data key. Zeroed on drop; never printed.
pub struct DataKey([u8; DATA_KEY_LEN]);

impl DataKey {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key: [u8; DATA_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::Kms("the data key is not 32 bytes".into()))?;
        Ok(DataKey(key))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&mut self.0);
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// The derived keys of one message.
pub struct MessageKeys {
    aead: LessSafeKey,
    message_id: [u8; MESSAGE_ID_LEN],
    pub commitment: [u8; COMMITMENT_LEN],
}

impl MessageKeys {
    pub fn derive(data_key: &DataKey, message_id: &[u8; MESSAGE_ID_LEN]) -> Result<Self, CryptoError> {
        let prk = Salt::new(HKDF_SHA512, message_id).extract(data_key.as_bytes());
        let suite = SUITE_ID.to_be_bytes();
        let derive_info: [&[u8]; 2] = [&suite, b"DERIVEKEY"];
        let mut content_key = [0u8; DATA_KEY_LEN];
        prk.expand(&derive_info, Len(DATA_KEY_LEN))
            .and_then(|okm| okm.fill(&mut content_key))
            .map_err(|_| CryptoError::Internal("key derivation"))?;
        let mut commitment = [0u8; COMMITMENT_LEN];
        let commit_info: [&[u8]; 1] = [b"COMMITKEY"];
        prk.expand(&commit_info, Len(COMMITMENT_LEN))
            .and_then(|okm| okm.fill(&mut commitment))
            .map_err(|_| CryptoError::Internal("key derivation"))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &content_key).map_err(|_| CryptoError::Internal("AES key"));
        content_key.fill(0);
        std::hint::black_box(&mut content_key);
        Ok(MessageKeys {
            aead: LessSafeKey::new(unbound?),
            message_id: *message_id,
            commitment,
        })
    }

    /// Constant-time comparison of the stored commitment key with ours.
    pub fn check_commitment(&self, stored: &[u8; COMMITMENT_LEN]) -> Result<(), CryptoError> {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.commitment, stored)
            .map_err(|_| CryptoError::Authentication)
    }

    /// The header authentication tag: GCM over no plaintext, zero IV, header body as AAD.
    pub fn header_tag(&self, header_body: &[u8]) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0u8; IV_LEN]),
                Aad::from(header_body),
                &mut [],
            )
            .map_err(|_| CryptoError::Internal("seal"))?;
        Ok(tag_bytes(tag))
    }

    pub fn verify_header(&self, header_body: &[u8], tag: &[u8; TAG_LEN]) -> Result<(), CryptoError> {
        let mut in_out = *tag;
        self.aead
            .open_in_place(
                Nonce::assume_unique_for_key([0u8; IV_LEN]),
                Aad::from(header_body),
                &mut in_out,
            )
            .map(|_| ())
            .map_err(|_| CryptoError::Authentication)
    }

    /// Encrypts frame `seq` in place and returns its tag.
    pub fn seal_frame(&self, seq: u32, final_frame: bool, in_out: &mut [u8]) -> Result<[u8; TAG_LEN], CryptoError> {
        let aad = format::frame_aad(&self.message_id, final_frame, seq, in_out.len() as u64);
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(format::frame_iv(seq)),
                Aad::from(aad),
                in_out,
            )
            .map_err(|_| CryptoError::Internal("seal"))?;
        Ok(tag_bytes(tag))
    }

    /// Decrypts frame `seq` in place under the `iv` the frame carries: `in_out` is ciphertext ‖
    /// tag; returns the plaintext (a prefix of `in_out`) only when the tag verifies.
    pub fn open_frame<'a>(
        &self,
        seq: u32,
        final_frame: bool,
        iv: [u8; format::IV_LEN],
        in_out: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        let len = in_out.len().checked_sub(TAG_LEN).ok_or(CryptoError::Truncated)?;
        let aad = format::frame_aad(&self.message_id, final_frame, seq, len as u64);
        self.aead
            .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), in_out)
            .map_err(|_| CryptoError::Authentication)
    }
}

fn tag_bytes(tag: Tag) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}
