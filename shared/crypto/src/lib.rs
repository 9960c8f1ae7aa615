//! Encryption of attachments and exports (CRY-1, TEN-4), independent of HTTP.
//!
//! Stored format: an AWS Encryption SDK message, format version 2, algorithm suite 0x0478
//! (`AES_256_GCM_HKDF_SHA512_COMMIT_KEY`: AES-256-GCM, HKDF-SHA512, key commitment, no
//! signature), framed. Customers decrypt exports with AWS's own tools; the layout and the
//! reasons are in `docs/envelope-format.md`. Primitives are aws-lc-rs (HKDF, AES-GCM, random).
//!
//! * One data key per object, from KMS `GenerateDataKey` (AES-256) under an
//!   [`EncryptionContext`] naming the tenant and the object; decryption demands the expected
//!   context and fails on any other, before KMS is asked.
//! * Every frame is AES-256-GCM with its sequence number, and whether it is the final frame,
//!   in its AAD; the header is authenticated, and the key is committed to (the header carries
//!   an HKDF commitment checked in constant time), so a flipped byte, truncation, reordered,
//!   duplicated or spliced frame, swapped header or wrong key all fail.
//! * Streaming with one frame buffer: [`Envelope::encrypt`] reads an `AsyncRead`,
//!   [`Envelope::decrypt`] writes a frame's plaintext only after its tag verified, and
//!   [`Envelope::decrypt_frames`] decrypts a range of frames of an `AsyncRead + AsyncSeek`
//!   source (segmented downloads; map a byte range to frames with [`FrameLayout::frames_for`]).
//!
//! Every failure is a [`CryptoError`]; its Display never contains key material or plaintext.

mod engine;
mod format;
mod keys;
mod raw;
pub mod s3;
#[cfg(test)]
mod tests;

pub use engine::{EncryptSummary, Opened};
pub use format::FrameLayout;
/// Benchmarks and interop checks only (a raw AES wrapping key instead of KMS); see `raw.rs`.
#[doc(hidden)]
pub use raw::RawAesEnvelope;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use engine::Keyring;
use format::EncryptedDataKey as Edk;
use keys::DataKey;
use quire_core::ids::OrgId;
use quire_store::{ObjectKey, ObjectKind};
use std::collections::HashMap;
use std::ops::Range;
use tokio::io::{AsyncRead, AsyncSeek, AsyncSeekExt, AsyncWrite};

/// Default frame length: 64 KiB of plaintext per frame.
pub const DEFAULT_FRAME_LENGTH: u32 = 64 * 1024;
/// Largest frame length written or accepted (bounds the memory of a decryption).
pub const MAX_FRAME_LENGTH: u32 = 4 * 1024 * 1024;
/// A frame length new objects may use: 1 byte to [`MAX_FRAME_LENGTH`].
fn checked_frame_length(frame_length: u32) -> Result<u32, CryptoError> {
    if frame_length == 0 || frame_length > MAX_FRAME_LENGTH {
        return Err(CryptoError::InvalidInput("frame length must be 1 byte to 4 MiB"));
    }
    Ok(frame_length)
}

/// The ESDK provider id of AWS KMS data keys.
pub const KMS_PROVIDER_ID: &str = "aws-kms";

/// The one error of this module. Fail-closed: anything not proven authentic is an error.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the encrypted object failed authentication")]
    Authentication,
    #[error("the encrypted object belongs to another tenant or object (encryption context mismatch)")]
    ContextMismatch,
    #[error("the encrypted object is truncated")]
    Truncated,
    #[error("the encrypted object is malformed: {0}")]
    Malformed(&'static str),
    #[error("the encrypted object uses an unsupported {0}")]
    Unsupported(&'static str),
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    #[error("no encrypted data key of the object can be unwrapped with the configured KMS key")]
    NoUsableKey,
    #[error("KMS call failed: {0}")]
    Kms(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal cryptographic failure: {0}")]
    Internal(&'static str),
}

fn is_object_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The KMS encryption context of one object: built only from the tenant and the object id, so
/// callers cannot pass arbitrary maps. Attachments are bound to `{orgId, attachmentId}`
/// (TEN-4); exports to `{orgId, exportId}`, so one can never be opened as the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionContext {
    /// Sorted by key bytes (the ESDK serialisation order).
    pairs: Vec<(String, String)>,
}

impl EncryptionContext {
    fn new(org: &OrgId, id_key: &str, id: &str) -> Result<Self, CryptoError> {
        if !is_object_id(id) {
            return Err(CryptoError::InvalidInput(
                "object id must be 1 to 128 characters of A-Z, a-z, 0-9, '-' or '_'",
            ));
        }
        Ok(Self::of_valid(org, id_key, id))
    }

    fn of_valid(org: &OrgId, id_key: &str, id: &str) -> Self {
        let mut pairs = vec![
            (id_key.to_owned(), id.to_owned()),
            ("orgId".to_owned(), org.as_str().to_owned()),
        ];
        pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        EncryptionContext { pairs }
    }

    /// The context of a stored object, from the ids its key was built from: `{orgId,
    /// attachmentId}` or `{orgId, exportId}`. (Ids of those types always satisfy the rules.)
    pub fn of(object: &ObjectKey) -> Self {
        let id_key = match object.kind() {
            ObjectKind::Attachment => "attachmentId",
            ObjectKind::Export => "exportId",
        };
        Self::of_valid(object.org_id(), id_key, object.id())
    }

    /// `{orgId, attachmentId}`.
    pub fn attachment(org: &OrgId, attachment_id: &str) -> Result<Self, CryptoError> {
        Self::new(org, "attachmentId", attachment_id)
    }

    /// `{orgId, exportId}`.
    pub fn export(org: &OrgId, export_id: &str) -> Result<Self, CryptoError> {
        Self::new(org, "exportId", export_id)
    }

    /// The pairs, sorted by key.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    fn to_map(&self) -> HashMap<String, String> {
        self.pairs.iter().cloned().collect()
    }
}

/// Data keys wrapped by one KMS key (strict: only data keys wrapped by that key are tried).
struct KmsKeyring<'a> {
    kms: &'a aws_sdk_kms::Client,
    key_arn: &'a str,
}

fn kms_error(error: impl std::error::Error) -> CryptoError {
    CryptoError::Kms(aws_sdk_kms::error::DisplayErrorContext(error).to_string())
}

impl Keyring for KmsKeyring<'_> {
    async fn generate(&self, context: &EncryptionContext) -> Result<(DataKey, Edk), CryptoError> {
        let out = self
            .kms
            .generate_data_key()
            .key_id(self.key_arn)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.to_map()))
            .send()
            .await
            .map_err(kms_error)?;
        let plaintext = out
            .plaintext()
            .ok_or(CryptoError::Kms("GenerateDataKey returned no plaintext key".into()))?;
        let ciphertext = out
            .ciphertext_blob()
            .ok_or(CryptoError::Kms("GenerateDataKey returned no wrapped key".into()))?;
        let data_key = DataKey::from_slice(plaintext.as_ref())?;
        Ok((
            data_key,
            Edk {
                provider_id: KMS_PROVIDER_ID.to_owned(),
                provider_info: self.key_arn.as_bytes().to_vec(),
                ciphertext: ciphertext.as_ref().to_vec(),
            },
        ))
    }

    async fn unwrap(&self, context: &EncryptionContext, edks: &[Edk]) -> Result<DataKey, CryptoError> {
        let mut last = CryptoError::NoUsableKey;
        for edk in edks {
            if edk.provider_id != KMS_PROVIDER_ID || edk.provider_info != self.key_arn.as_bytes() {
                continue;
            }
            let result = self
                .kms
                .decrypt()
                .key_id(self.key_arn)
                .ciphertext_blob(Blob::new(edk.ciphertext.clone()))
                .set_encryption_context(Some(context.to_map()))
                .send()
                .await;
            match result {
                Ok(out) => {
                    if out.key_id().is_some_and(|id| id != self.key_arn) {
                        last = CryptoError::Kms("Decrypt answered for another key".into());
                        continue;
                    }
                    let plaintext = out
                        .plaintext()
                        .ok_or(CryptoError::Kms("Decrypt returned no plaintext key".into()))?;
                    return DataKey::from_slice(plaintext.as_ref());
                }
                // KMS refused the wrapped key itself (altered, or bound to another context): the
                // stored header is not what was written.
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_invalid_ciphertext_exception() || e.is_incorrect_key_exception()) =>
                {
                    last = CryptoError::Authentication
                }
                Err(error) => last = kms_error(error),
            }
        }
        Err(last)
    }
}

/// Encrypts and decrypts objects under one KMS key.
#[derive(Debug, Clone)]
pub struct Envelope {
    kms: aws_sdk_kms::Client,
    key_arn: String,
    frame_length: u32,
}

impl Envelope {
    /// `key_arn` must be a key ARN (`arn:aws:kms:<region>:<account>:key/<id>`): it is what
    /// the header records as the provider info and what decryption accepts.
    pub fn new(kms: aws_sdk_kms::Client, key_arn: impl Into<String>) -> Result<Self, CryptoError> {
        let key_arn = key_arn.into();
        if !(key_arn.starts_with("arn:") && key_arn.contains(":key/")) {
            return Err(CryptoError::InvalidInput("the KMS key must be given as a key ARN"));
        }
        Ok(Envelope {
            kms,
            key_arn,
            frame_length: DEFAULT_FRAME_LENGTH,
        })
    }

    /// Plaintext bytes per frame of new objects (1 byte to [`MAX_FRAME_LENGTH`]).
    pub fn with_frame_length(mut self, frame_length: u32) -> Result<Self, CryptoError> {
        self.frame_length = checked_frame_length(frame_length)?;
        Ok(self)
    }

    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    fn keyring(&self) -> KmsKeyring<'_> {
        KmsKeyring {
            kms: &self.kms,
            key_arn: &self.key_arn,
        }
    }

    /// Encrypts `plaintext` into `out` under a fresh data key bound to `context`, one frame at
    /// a time. On an error `out` holds an unusable partial object: discard it.
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
        engine::encrypt(&self.keyring(), context, self.frame_length, plaintext, out).await
    }

    /// Reads and verifies the header at the reader's position (context, data key, commitment,
    /// header tag); the reader is left at frame 1.
    pub async fn open<R: AsyncRead + Unpin>(
        &self,
        context: &EncryptionContext,
        reader: &mut R,
    ) -> Result<Opened, CryptoError> {
        engine::open(&self.keyring(), context, reader).await
    }

    /// Decrypts a whole object; see [`Opened::decrypt_body`] for what `out` holds on an error.
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
        self.open(context, reader).await?.decrypt_body(reader, out).await
    }

    /// Decrypts frames `frames` (1-based, end exclusive) of the object in `source`; see
    /// [`Opened::decrypt_frames`].
    pub async fn decrypt_frames<S, W>(
        &self,
        context: &EncryptionContext,
        source: &mut S,
        frames: Range<u32>,
        out: &mut W,
    ) -> Result<u64, CryptoError>
    where
        S: AsyncRead + AsyncSeek + Unpin,
        W: AsyncWrite + Unpin,
    {
        source.seek(std::io::SeekFrom::Start(0)).await?;
        let opened = self.open(context, source).await?;
        opened.decrypt_frames(source, frames, out).await
    }
}
