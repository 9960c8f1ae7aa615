//! Benchmarks and interop checks only, NOT for production (doc-hidden): the same engine as
//! [`super::Envelope`], with the data key wrapped by a raw AES-256 key held in memory instead of
//! KMS, in the ESDK "raw AES keyring" format so the official SDKs read it
//! (`RawMasterKey` / `RawAESKeyring` with AES-256-GCM, IV 12, tag 16):
//!
//! * provider id = key namespace; provider info = key name ‖ tag length in bits (4, = 128) ‖
//!   IV length (4, = 12) ‖ IV (12);
//! * ciphertext = AES-256-GCM(wrapping key, IV, data key, AAD = serialised encryption context) ‖ tag.
//!
//! Used by `shared/crypto/benches/envelope.rs` and `shared/crypto/examples/envelope_bench.rs` to measure
//! the engine with the KMS call excluded.

use super::engine::{self, EncryptSummary, Keyring};
use super::format::{self, EncryptedDataKey, IV_LEN, TAG_LEN};
use super::keys::{DataKey, DATA_KEY_LEN};
use super::{CryptoError, EncryptionContext, DEFAULT_FRAME_LENGTH};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use tokio::io::{AsyncRead, AsyncWrite};

/// Envelope encryption under a raw AES-256 wrapping key (benchmarks and interop only).
pub struct RawAesEnvelope {
    namespace: String,
    name: String,
    kek: LessSafeKey,
    frame_length: u32,
}

impl std::fmt::Debug for RawAesEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawAesEnvelope")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("frame_length", &self.frame_length)
            .finish_non_exhaustive()
    }
}

impl RawAesEnvelope {
    /// `wrapping_key` must be 32 bytes; `namespace` and `name` are the ESDK provider id and key
    /// name (what an SDK's raw keyring must be configured with to decrypt).
    pub fn new(namespace: &str, name: &str, wrapping_key: &[u8]) -> Result<Self, CryptoError> {
        if wrapping_key.len() != DATA_KEY_LEN {
            return Err(CryptoError::InvalidInput("the wrapping key must be 32 bytes"));
        }
        let kek = UnboundKey::new(&AES_256_GCM, wrapping_key).map_err(|_| CryptoError::Internal("AES key"))?;
        Ok(RawAesEnvelope {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            kek: LessSafeKey::new(kek),
            frame_length: DEFAULT_FRAME_LENGTH,
        })
    }

    /// Plaintext bytes per frame of new objects (1 byte to [`super::MAX_FRAME_LENGTH`]).
    pub fn with_frame_length(mut self, frame_length: u32) -> Result<Self, CryptoError> {
        self.frame_length = super::checked_frame_length(frame_length)?;
        Ok(self)
    }

    /// As [`super::Envelope::encrypt`].
    pub async fn encrypt<R, W>(
        &self,
        context: &EncryptionContext,
        plaintext: &mut R,
        out: &mut W,
    ) -> Result<EncryptSummary, CryptoError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        engine::encrypt(self, context, self.frame_length, plaintext, out).await
    }

    /// As [`super::Envelope::decrypt`].
    pub async fn decrypt<R, W>(
        &self,
        context: &EncryptionContext,
        reader: &mut R,
        out: &mut W,
    ) -> Result<u64, CryptoError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        engine::open(self, context, reader)
            .await?
            .decrypt_body(reader, out)
            .await
    }

    /// Provider info up to the IV: key name ‖ tag bits ‖ IV length.
    fn info_prefix(&self) -> Vec<u8> {
        let mut info = self.name.as_bytes().to_vec();
        info.extend_from_slice(&((TAG_LEN * 8) as u32).to_be_bytes());
        info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
        info
    }
}

impl Keyring for RawAesEnvelope {
    async fn generate(&self, context: &EncryptionContext) -> Result<(DataKey, EncryptedDataKey), CryptoError> {
        let mut key = [0u8; DATA_KEY_LEN];
        let mut iv = [0u8; IV_LEN];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| CryptoError::Internal("random data key"))?;
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| CryptoError::Internal("random IV"))?;
        let data_key = DataKey::from_slice(&key);
        let mut ciphertext = key.to_vec();
        key.fill(0);
        let aad = format::serialize_context(context.pairs())?;
        let tag = self
            .kek
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut ciphertext)
            .map_err(|_| CryptoError::Internal("seal"))?;
        ciphertext.extend_from_slice(tag.as_ref());
        let mut provider_info = self.info_prefix();
        provider_info.extend_from_slice(&iv);
        Ok((
            data_key?,
            EncryptedDataKey {
                provider_id: self.namespace.clone(),
                provider_info,
                ciphertext,
            },
        ))
    }

    async fn unwrap(&self, context: &EncryptionContext, edks: &[EncryptedDataKey]) -> Result<DataKey, CryptoError> {
        let prefix = self.info_prefix();
        let aad = format::serialize_context(context.pairs())?;
        for edk in edks {
            let Some(iv) = edk.provider_info.strip_prefix(prefix.as_slice()) else {
                continue;
            };
            if edk.provider_id != self.namespace || iv.len() != IV_LEN || edk.ciphertext.len() != DATA_KEY_LEN + TAG_LEN
            {
                continue;
            }
            let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| CryptoError::Internal("IV"))?;
            let mut sealed = edk.ciphertext.clone();
            if let Ok(plain) = self.kek.open_in_place(nonce, Aad::from(aad.as_slice()), &mut sealed) {
                let key = DataKey::from_slice(plain);
                sealed.fill(0);
                return key;
            }
        }
        Err(CryptoError::NoUsableKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quire_core::ids::OrgId;

    fn context(id: &str) -> EncryptionContext {
        EncryptionContext::attachment(&OrgId::parse("bench-org").unwrap(), id).unwrap()
    }

    #[tokio::test]
    async fn round_trips_and_refuses_another_key_or_context() {
        let envelope = RawAesEnvelope::new("quire-bench", "bench-key", &[7; 32])
            .unwrap()
            .with_frame_length(1000)
            .unwrap();
        let plaintext: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut sealed = Vec::new();
        envelope
            .encrypt(&context("a"), &mut plaintext.as_slice(), &mut sealed)
            .await
            .unwrap();
        let mut opened = Vec::new();
        envelope
            .decrypt(&context("a"), &mut sealed.as_slice(), &mut opened)
            .await
            .unwrap();
        assert_eq!(opened, plaintext);
        let other = RawAesEnvelope::new("quire-bench", "bench-key", &[8; 32]).unwrap();
        let result = other
            .decrypt(&context("a"), &mut sealed.as_slice(), &mut Vec::new())
            .await;
        assert!(matches!(result, Err(CryptoError::NoUsableKey)));
        let result = envelope
            .decrypt(&context("b"), &mut sealed.as_slice(), &mut Vec::new())
            .await;
        assert!(matches!(result, Err(CryptoError::ContextMismatch)));
        assert!(RawAesEnvelope::new("quire-bench", "bench-key", &[7; 16]).is_err());
    }
}
