//! The bytes of an AWS Encryption SDK message, format version 2, suite 0x0478, framed content.
//! Serialisation and bounded parsing only: no keys here (see `keys.rs`).
//!
//! ```text
//! header body  = version(1)=0x02 | suite(2)=0x0478 | message id(32)
//!              | aad length(2) | [pair count(2) | (key len(2) key value len(2) value)*]   (sorted by key bytes)
//!              | edk count(2) | (provider id len(2) id | info len(2) info | ciphertext len(2) ciphertext)*
//!              | content type(1)=0x02 | frame length(4) | commitment key(32)
//! header auth  = GCM tag(16) over no plaintext, IV = 12 zero bytes, AAD = header body
//! frame        = sequence number(4) | IV(12) | ciphertext(frame length) | tag(16)
//! final frame  = 0xFFFFFFFF(4) | sequence number(4) | IV(12) | content length(4) | ciphertext | tag(16)
//! frame AAD    = message id | "AWSKMSEncryptionClient Frame" or "... Final Frame" | seq(4) | length(8)
//! ```

use super::CryptoError;
use tokio::io::{AsyncRead, AsyncReadExt};

pub const VERSION: u8 = 0x02;
/// ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY: AES-256-GCM, HKDF-SHA512 key derivation and key
/// commitment, no signature.
pub const SUITE_ID: u16 = 0x0478;
pub const CONTENT_TYPE_FRAMED: u8 = 0x02;
pub const MESSAGE_ID_LEN: usize = 32;
pub const COMMITMENT_LEN: usize = 32;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Marks the final frame in place of a sequence number.
pub const FINAL_FRAME_MARKER: u32 = 0xFFFF_FFFF;
/// Bytes of a regular frame besides its ciphertext: sequence number, IV, tag.
pub const REGULAR_FRAME_OVERHEAD: u64 = 4 + IV_LEN as u64 + TAG_LEN as u64;
/// Bytes of the final frame besides its ciphertext: marker, sequence number, IV, length, tag.
pub const FINAL_FRAME_OVERHEAD: u64 = 4 + 4 + IV_LEN as u64 + 4 + TAG_LEN as u64;
/// Largest header we read (the encryption context and data keys of our messages take a few
/// hundred bytes); a bigger one is refused before it is buffered.
pub const MAX_HEADER_LEN: usize = 64 * 1024;
/// Most encrypted data keys accepted in a header (ESDK's `max_encrypted_data_keys` idea).
pub const MAX_EDKS: usize = 8;

const FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Frame";
const FINAL_FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Final Frame";

/// One encrypted data key of the header: who can unwrap it and the wrapped key.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    pub provider_id: String,
    pub provider_info: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for EncryptedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedDataKey")
            .field("provider_id", &self.provider_id)
            .field("provider_info", &String::from_utf8_lossy(&self.provider_info))
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// A parsed header (not yet authenticated unless it came out of `Decryptor`).
#[derive(Debug, Clone)]
pub struct Header {
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// Encryption context pairs, sorted by key bytes.
    pub context: Vec<(String, String)>,
    pub edks: Vec<EncryptedDataKey>,
    pub frame_length: u32,
    pub commitment: [u8; COMMITMENT_LEN],
}

fn put_u16_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), CryptoError> {
    let len =
        u16::try_from(bytes.len()).map_err(|_| CryptoError::InvalidInput("a header field exceeds 65535 bytes"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// The ESDK serialisation of an encryption context: empty for no pairs, else a count and the
/// pairs sorted by key bytes.
pub fn serialize_context(pairs: &[(String, String)]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    if pairs.is_empty() {
        return Ok(out);
    }
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let count = u16::try_from(sorted.len()).map_err(|_| CryptoError::InvalidInput("too many context pairs"))?;
    out.extend_from_slice(&count.to_be_bytes());
    for (key, value) in sorted {
        put_u16_bytes(&mut out, key.as_bytes())?;
        put_u16_bytes(&mut out, value.as_bytes())?;
    }
    Ok(out)
}

impl Header {
    /// The header body: everything the header authentication tag covers.
    pub fn serialize_body(&self) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(256);
        out.push(VERSION);
        out.extend_from_slice(&SUITE_ID.to_be_bytes());
        out.extend_from_slice(&self.message_id);
        let context = serialize_context(&self.context)?;
        put_u16_bytes(&mut out, &context)?;
        let count = u16::try_from(self.edks.len()).map_err(|_| CryptoError::InvalidInput("too many data keys"))?;
        out.extend_from_slice(&count.to_be_bytes());
        for edk in &self.edks {
            put_u16_bytes(&mut out, edk.provider_id.as_bytes())?;
            put_u16_bytes(&mut out, &edk.provider_info)?;
            put_u16_bytes(&mut out, &edk.ciphertext)?;
        }
        out.push(CONTENT_TYPE_FRAMED);
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        out.extend_from_slice(&self.commitment);
        Ok(out)
    }
}

/// Reads exactly `buf.len()` bytes; a short source is `Truncated`.
pub async fn read_exact<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> Result<(), CryptoError> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(CryptoError::Truncated),
        Err(e) => Err(CryptoError::Io(e)),
    }
}

/// Reads the header body and its tag, keeping the raw body bytes (the AAD of the tag).
struct HeaderReader<'a, R> {
    reader: &'a mut R,
    raw: Vec<u8>,
}

impl<R: AsyncRead + Unpin> HeaderReader<'_, R> {
    async fn take(&mut self, n: usize) -> Result<&[u8], CryptoError> {
        if self.raw.len() + n > MAX_HEADER_LEN {
            return Err(CryptoError::Malformed("header too large"));
        }
        let start = self.raw.len();
        self.raw.resize(start + n, 0);
        read_exact(self.reader, &mut self.raw[start..]).await?;
        Ok(&self.raw[start..])
    }

    async fn u8(&mut self) -> Result<u8, CryptoError> {
        Ok(self.take(1).await?[0])
    }

    async fn u16(&mut self) -> Result<u16, CryptoError> {
        let b = self.take(2).await?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    async fn u32(&mut self) -> Result<u32, CryptoError> {
        let b = self.take(4).await?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    async fn field(&mut self) -> Result<Vec<u8>, CryptoError> {
        let len = self.u16().await? as usize;
        Ok(self.take(len).await?.to_vec())
    }
}

fn parse_context(bytes: &[u8]) -> Result<Vec<(String, String)>, CryptoError> {
    const BAD: CryptoError = CryptoError::Malformed("bad encryption context");
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut rest = bytes;
    let mut next = |n: usize| -> Result<&[u8], CryptoError> {
        if rest.len() < n {
            return Err(BAD);
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let count_bytes = next(2)?;
    let count = u16::from_be_bytes([count_bytes[0], count_bytes[1]]);
    if count == 0 {
        return Err(BAD);
    }
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let mut text = || -> Result<String, CryptoError> {
            let len = next(2)?;
            let len = u16::from_be_bytes([len[0], len[1]]) as usize;
            String::from_utf8(next(len)?.to_vec()).map_err(|_| BAD)
        };
        let key = text()?;
        let value = text()?;
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(BAD);
        }
        pairs.push((key, value));
    }
    if !rest.is_empty() {
        return Err(BAD);
    }
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(pairs)
}

/// Parses a header and its authentication tag from the start of `reader`. Returns the header,
/// the raw header body (AAD of the tag) and the tag. Nothing here is authenticated yet.
pub async fn read_header<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_length: u32,
) -> Result<(Header, Vec<u8>, [u8; TAG_LEN]), CryptoError> {
    let mut r = HeaderReader {
        reader,
        raw: Vec::new(),
    };
    if r.u8().await? != VERSION {
        return Err(CryptoError::Unsupported("message format version (only 2 is accepted)"));
    }
    if r.u16().await? != SUITE_ID {
        return Err(CryptoError::Unsupported(
            "algorithm suite (only 0x0478, AES-256-GCM with key commitment, is accepted)",
        ));
    }
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    message_id.copy_from_slice(r.take(MESSAGE_ID_LEN).await?);
    let context = parse_context(&r.field().await?)?;
    let edk_count = r.u16().await? as usize;
    if edk_count == 0 || edk_count > MAX_EDKS {
        return Err(CryptoError::Malformed("bad number of encrypted data keys"));
    }
    let mut edks = Vec::with_capacity(edk_count);
    for _ in 0..edk_count {
        let provider_id =
            String::from_utf8(r.field().await?).map_err(|_| CryptoError::Malformed("provider id is not UTF-8"))?;
        let provider_info = r.field().await?;
        let ciphertext = r.field().await?;
        edks.push(EncryptedDataKey {
            provider_id,
            provider_info,
            ciphertext,
        });
    }
    if r.u8().await? != CONTENT_TYPE_FRAMED {
        return Err(CryptoError::Unsupported(
            "content type (only framed content is accepted)",
        ));
    }
    let frame_length = r.u32().await?;
    if frame_length == 0 || frame_length > max_frame_length {
        return Err(CryptoError::Unsupported("frame length"));
    }
    let mut commitment = [0u8; COMMITMENT_LEN];
    commitment.copy_from_slice(r.take(COMMITMENT_LEN).await?);
    let raw = r.raw;
    let mut tag = [0u8; TAG_LEN];
    read_exact(r.reader, &mut tag).await?;
    Ok((
        Header {
            message_id,
            context,
            edks,
            frame_length,
            commitment,
        },
        raw,
        tag,
    ))
}

/// The IV of frame `seq`: the sequence number, big-endian, left-padded with zeros. Unique per
/// frame under a per-message key; the header tag uses the all-zero IV (sequence numbers start at 1).
pub fn frame_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[IV_LEN - 4..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// The AAD of a frame's GCM call.
pub fn frame_aad(message_id: &[u8; MESSAGE_ID_LEN], final_frame: bool, seq: u32, len: u64) -> Vec<u8> {
    let label = if final_frame { FINAL_FRAME_AAD } else { FRAME_AAD };
    let mut aad = Vec::with_capacity(MESSAGE_ID_LEN + label.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(label);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&len.to_be_bytes());
    aad
}

/// Where the frames of a message lie, from its total length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Bytes of the header including its tag (where frame 1 starts).
    pub header_len: u64,
    pub frame_length: u32,
    /// Number of frames, the final one included (at least 1).
    pub frame_count: u32,
    /// Plaintext bytes in the final frame.
    pub final_len: u32,
}

impl FrameLayout {
    /// The layout of a message of `total_len` bytes; `Truncated`/`Malformed` when no whole
    /// number of frames fits.
    pub fn new(header_len: u64, frame_length: u32, total_len: u64) -> Result<Self, CryptoError> {
        let body = total_len.checked_sub(header_len).ok_or(CryptoError::Truncated)?;
        let rest = body.checked_sub(FINAL_FRAME_OVERHEAD).ok_or(CryptoError::Truncated)?;
        let regular_size = REGULAR_FRAME_OVERHEAD + frame_length as u64;
        // rest = regular * regular_size + final_len with final_len <= frame_length < regular_size.
        let regular = rest / regular_size;
        let final_len = rest % regular_size;
        if final_len > frame_length as u64 {
            return Err(CryptoError::Truncated);
        }
        let frame_count = u32::try_from(regular + 1).map_err(|_| CryptoError::Malformed("too many frames"))?;
        Ok(FrameLayout {
            header_len,
            frame_length,
            frame_count,
            final_len: final_len as u32,
        })
    }

    /// Byte offset of frame `seq` (1-based).
    pub fn frame_offset(&self, seq: u32) -> u64 {
        self.header_len + (seq as u64 - 1) * (REGULAR_FRAME_OVERHEAD + self.frame_length as u64)
    }

    /// Total plaintext bytes of the message.
    pub fn plaintext_len(&self) -> u64 {
        (self.frame_count as u64 - 1) * self.frame_length as u64 + self.final_len as u64
    }

    /// The frames (1-based, end exclusive) holding plaintext bytes `range` (clamped to the object).
    pub fn frames_for(&self, range: std::ops::Range<u64>) -> std::ops::Range<u32> {
        let len = self.plaintext_len();
        let (start, end) = (range.start.min(len), range.end.min(len));
        if start >= end {
            return 1..1;
        }
        let f = self.frame_length as u64;
        let first = (start / f + 1).min(self.frame_count as u64) as u32;
        let last = ((end - 1) / f + 1).min(self.frame_count as u64) as u32;
        first..last + 1
    }
}
