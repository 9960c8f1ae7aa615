//! Streaming encryption and decryption of one message, whatever wraps its data key (the
//! [`Keyring`]): KMS in production, a raw test key in the unit tests. Memory: one frame buffer.

use super::format::{self, EncryptedDataKey, FrameLayout, Header, FINAL_FRAME_MARKER, IV_LEN, MESSAGE_ID_LEN, TAG_LEN};
use super::keys::{DataKey, MessageKeys};
use super::{CryptoError, EncryptionContext, MAX_FRAME_LENGTH};
use std::future::Future;
use std::io::SeekFrom;
use std::ops::Range;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeek, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

/// Wraps and unwraps data keys under an encryption context.
pub(crate) trait Keyring: Sync {
    /// A fresh 32-byte data key and its wrapped form.
    fn generate(
        &self,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<(DataKey, EncryptedDataKey), CryptoError>> + Send;
    /// Unwraps the first usable key of `edks` under `context`.
    fn unwrap(
        &self,
        context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> impl Future<Output = Result<DataKey, CryptoError>> + Send;
}

/// What an encryption wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptSummary {
    pub plaintext_len: u64,
    pub ciphertext_len: u64,
    /// Bytes of the header including its tag (where frame 1 starts).
    pub header_len: u64,
    pub frame_length: u32,
    /// Frames written, the final one included.
    pub frame_count: u32,
}

/// Fills `buf` from `reader` unless the source ends first; returns the bytes read.
async fn read_full<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> Result<usize, CryptoError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

pub(crate) async fn encrypt<K, R, W>(
    keyring: &K,
    context: &EncryptionContext,
    frame_length: u32,
    plaintext: &mut R,
    out: &mut W,
) -> Result<EncryptSummary, CryptoError>
where
    K: Keyring,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if frame_length == 0 || frame_length > MAX_FRAME_LENGTH {
        return Err(CryptoError::InvalidInput("frame length must be 1 byte to 4 MiB"));
    }
    let (data_key, edk) = keyring.generate(context).await?;
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    aws_lc_rs::rand::fill(&mut message_id).map_err(|_| CryptoError::Internal("random message id"))?;
    let keys = MessageKeys::derive(&data_key, &message_id)?;
    drop(data_key);
    let header = Header {
        message_id,
        context: context.pairs().to_vec(),
        edks: vec![edk],
        frame_length,
        commitment: keys.commitment,
    };
    let body = header.serialize_body()?;
    let tag = keys.header_tag(&body)?;
    out.write_all(&body).await?;
    out.write_all(&tag).await?;
    let header_len = (body.len() + TAG_LEN) as u64;
    let mut written = header_len;

    let f = frame_length as usize;
    let mut buf = vec![0u8; f];
    let mut seq: u32 = 1;
    let mut plaintext_len = 0u64;
    loop {
        let n = read_full(plaintext, &mut buf).await?;
        plaintext_len += n as u64;
        if n == f {
            // A full frame: regular (the final frame follows, empty when the source ends here,
            // as the ESDK itself writes it).
            let tag = keys.seal_frame(seq, false, &mut buf)?;
            out.write_all(&seq.to_be_bytes()).await?;
            out.write_all(&format::frame_iv(seq)).await?;
            out.write_all(&buf).await?;
            out.write_all(&tag).await?;
            written += format::REGULAR_FRAME_OVERHEAD + f as u64;
            seq = seq
                .checked_add(1)
                .filter(|s| *s != FINAL_FRAME_MARKER)
                .ok_or(CryptoError::InvalidInput("the object needs more than 2^32 - 2 frames"))?;
        } else {
            let tag = keys.seal_frame(seq, true, &mut buf[..n])?;
            out.write_all(&FINAL_FRAME_MARKER.to_be_bytes()).await?;
            out.write_all(&seq.to_be_bytes()).await?;
            out.write_all(&format::frame_iv(seq)).await?;
            out.write_all(&(n as u32).to_be_bytes()).await?;
            out.write_all(&buf[..n]).await?;
            out.write_all(&tag).await?;
            written += format::FINAL_FRAME_OVERHEAD + n as u64;
            break;
        }
    }
    buf.fill(0);
    out.flush().await?;
    Ok(EncryptSummary {
        plaintext_len,
        ciphertext_len: written,
        header_len,
        frame_length,
        frame_count: seq,
    })
}

/// A message whose header was parsed and verified: encryption context equal to the expected
/// one, data key unwrapped, key commitment and header tag checked.
pub struct Opened {
    header: Header,
    keys: MessageKeys,
    header_len: u64,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("header_len", &self.header_len)
            .field("frame_length", &self.header.frame_length)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn open<K, R>(keyring: &K, context: &EncryptionContext, reader: &mut R) -> Result<Opened, CryptoError>
where
    K: Keyring,
    R: AsyncRead + Unpin,
{
    let (header, body, tag) = format::read_header(reader, MAX_FRAME_LENGTH).await?;
    // The context decides which tenant and object this is: anything but the expected one fails
    // before KMS is even asked.
    if header.context != context.pairs() {
        return Err(CryptoError::ContextMismatch);
    }
    let data_key = keyring.unwrap(context, &header.edks).await?;
    let keys = MessageKeys::derive(&data_key, &header.message_id)?;
    drop(data_key);
    keys.check_commitment(&header.commitment)?;
    keys.verify_header(&body, &tag)?;
    let header_len = (body.len() + TAG_LEN) as u64;
    Ok(Opened {
        header,
        keys,
        header_len,
    })
}

impl Opened {
    pub fn frame_length(&self) -> u32 {
        self.header.frame_length
    }

    /// Bytes of the header including its tag.
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// Where the frames of this message lie when the whole object is `total_len` bytes.
    pub fn layout(&self, total_len: u64) -> Result<FrameLayout, CryptoError> {
        FrameLayout::new(self.header_len, self.header.frame_length, total_len)
    }

    /// The frame's IV as the message holds it. Quire writes the sequence number there, but the
    /// format lets a writer choose any IV unique under the message's key, and AWS's own test
    /// vectors do (`ffffffffffffffff00000001`): GCM authenticates whatever IV is used, and the
    /// frame's sequence number is bound by its AAD.
    ///
    /// The all-zero IV is refused: the header's tag is made under it with the same key, and a
    /// GCM nonce used twice under one key gives away the key's authentication secret.
    async fn read_iv<R: AsyncRead + Unpin>(reader: &mut R) -> Result<[u8; IV_LEN], CryptoError> {
        let mut iv = [0u8; IV_LEN];
        format::read_exact(reader, &mut iv).await?;
        if iv == [0u8; IV_LEN] {
            return Err(CryptoError::Authentication);
        }
        Ok(iv)
    }

    async fn read_u32<R: AsyncRead + Unpin>(reader: &mut R) -> Result<u32, CryptoError> {
        let mut word = [0u8; 4];
        format::read_exact(reader, &mut word).await?;
        Ok(u32::from_be_bytes(word))
    }

    /// Reads and opens the frame at the reader's position, which must be frame `seq`
    /// (`Some(final)` when the caller knows whether it is the final one). Returns the plaintext
    /// (inside `buf`) and whether it was the final frame.
    async fn read_frame<'b, R: AsyncRead + Unpin>(
        &self,
        reader: &mut R,
        seq: u32,
        expect_final: Option<bool>,
        buf: &'b mut [u8],
    ) -> Result<(&'b mut [u8], bool), CryptoError> {
        let first = Self::read_u32(reader).await?;
        let is_final = first == FINAL_FRAME_MARKER;
        if expect_final.is_some_and(|expected| expected != is_final) {
            return Err(CryptoError::Authentication);
        }
        let (len, iv) = if is_final {
            if Self::read_u32(reader).await? != seq {
                return Err(CryptoError::Authentication);
            }
            let iv = Self::read_iv(reader).await?;
            let len = Self::read_u32(reader).await?;
            if len > self.header.frame_length {
                return Err(CryptoError::Malformed("final frame longer than the frame length"));
            }
            (len as usize, iv)
        } else {
            if first != seq {
                return Err(CryptoError::Authentication);
            }
            (self.header.frame_length as usize, Self::read_iv(reader).await?)
        };
        let sealed = &mut buf[..len + TAG_LEN];
        format::read_exact(reader, sealed).await?;
        let plain = self.keys.open_frame(seq, is_final, iv, sealed)?;
        Ok((plain, is_final))
    }

    /// Decrypts the body that follows the header on `reader` into `out`, frame by frame: a
    /// frame's plaintext is written only after its tag verified. Returns the plaintext length.
    /// On an error, what was written is a prefix of authentic frames but NOT the whole object:
    /// the caller must discard it (truncation is only detectable at the end).
    pub async fn decrypt_body<R, W>(&self, reader: &mut R, out: &mut W) -> Result<u64, CryptoError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = vec![0u8; self.header.frame_length as usize + TAG_LEN];
        let mut seq: u32 = 1;
        let mut total = 0u64;
        loop {
            let (plain, is_final) = self.read_frame(reader, seq, None, &mut buf).await?;
            if is_final {
                // The end of the source is checked before the final frame is released.
                let mut probe = [0u8; 1];
                if reader.read(&mut probe).await? != 0 {
                    return Err(CryptoError::Malformed("bytes after the final frame"));
                }
                out.write_all(plain).await?;
                out.flush().await?;
                return Ok(total + plain.len() as u64);
            }
            out.write_all(plain).await?;
            total += plain.len() as u64;
            seq = seq
                .checked_add(1)
                .filter(|s| *s != FINAL_FRAME_MARKER)
                .ok_or(CryptoError::Malformed("too many frames"))?;
        }
    }

    /// Decrypts frames `frames` (1-based sequence numbers, end exclusive; see
    /// [`FrameLayout::frames_for`]) of the object in `source` into `out`. The object's length is
    /// taken from `source` (seek to its end); the final frame is always verified first, so a
    /// truncated or extended object fails even when the range does not reach its end.
    pub async fn decrypt_frames<S, W>(
        &self,
        source: &mut S,
        frames: Range<u32>,
        out: &mut W,
    ) -> Result<u64, CryptoError>
    where
        S: AsyncRead + AsyncSeek + Unpin,
        W: AsyncWrite + Unpin,
    {
        let total = source.seek(SeekFrom::End(0)).await?;
        let layout = self.layout(total)?;
        if frames.start == 0 || frames.start > frames.end || frames.end > layout.frame_count.saturating_add(1) {
            return Err(CryptoError::InvalidInput("frame range outside the object"));
        }
        let mut buf = vec![0u8; self.header.frame_length as usize + TAG_LEN];
        let last = layout.frame_count;
        source.seek(SeekFrom::Start(layout.frame_offset(last))).await?;
        let (plain, _) = self.read_frame(source, last, Some(true), &mut buf).await?;
        if plain.len() != layout.final_len as usize {
            return Err(CryptoError::Malformed(
                "final frame length does not match the object length",
            ));
        }
        let mut written = 0u64;
        for seq in frames {
            source.seek(SeekFrom::Start(layout.frame_offset(seq))).await?;
            let (plain, _) = self.read_frame(source, seq, Some(seq == last), &mut buf).await?;
            out.write_all(plain).await?;
            written += plain.len() as u64;
        }
        out.flush().await?;
        Ok(written)
    }
}
