//! Envelope-encrypted objects in S3, with memory independent of the object's size.
//!
//! * [`encrypt_to_s3`] runs [`Envelope::encrypt`] into one end of a bounded
//!   [`tokio::io::duplex`] pipe while the other end is cut into parts of [`PART_SIZE`] bytes and
//!   sent with a multipart upload (every part, even for an empty plaintext: an envelope is never
//!   empty). Only `CompleteMultipartUpload` makes the object visible, and it is called only after
//!   the encryption finished and every part was stored; on any error the upload is aborted, so no
//!   partial object ever appears. In a versioned bucket the summary names the version stored
//!   ([`S3EncryptSummary::version_id`]): a caller that records it reads that version back,
//!   whatever is written to the key later. (If the future is dropped mid-way, the bucket's
//!   lifecycle rule `AbortIncompleteMultipartUpload` removes the parts.) Parts carry CRC32 checksums, declared
//!   at `CreateMultipartUpload` and repeated in the completion, as S3 requires. Memory: one part
//!   buffer, the pipe buffer and one frame.
//! * [`decrypt_from_s3`] is [`decrypt_frames_from_s3`] over every frame: the header, the final
//!   frame, then all frames in one streamed ranged GET.
//! * [`decrypt_range_from_s3`] writes exactly the plaintext bytes of a byte range (an HTTP
//!   `Range`), decrypting only the frames that hold them.
//!
//! Each of the three opens the object once: one `HeadObject`, one ranged GET for the header,
//! one KMS `Decrypt` of the data key. Each reads the version it is given (`versionId`), or the
//! key's current object without one.
//! * [`decrypt_frames_from_s3`] reuses [`Envelope::open`] and [`Opened::decrypt_frames`]
//!   unchanged over an [`S3Source`]: an `AsyncRead + AsyncSeek` view of the object made of
//!   ranged `GetObject`s. Its length comes from `HeadObject`; a seek to another position drops
//!   the current body, and the next read starts a GET of a bounded window from there (a seek to
//!   the current position keeps the body, so consecutive frames share one GET). Every GET names
//!   the `ETag` seen by `HeadObject` (`If-Match`) and its `Content-Range` must match the request,
//!   so an object replaced while it is read fails instead of mixing two objects. What is fetched:
//!   the header (one small window), the final frame (the engine verifies it first, so truncation
//!   is detected even for a range at the start), then the requested frames in one GET.
//!
//! Objects are named by a [`quire_store::ObjectKey`] (built in the store's key module from the
//! tenant and object ids), never by a free string, and the encryption context is derived from
//! the same ids ([`EncryptionContext::of`]): an object copied under another tenant's or another
//! object's key does not decrypt there (TEN-4).
//!
//! S3 failures become [`CryptoError::Io`] naming the operation and the S3 error code only
//! (never the bucket, key or service message); a missing object is `io::ErrorKind::NotFound`.

use super::{CryptoError, EncryptSummary, EncryptionContext, Envelope, Opened};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use quire_store::ObjectKey;
use std::future::Future;
use std::io::{self, SeekFrom};
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeek, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Bytes per uploaded part (S3's minimum is 5 MiB for every part but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Capacity of the pipe between the encryption and the part uploader.
const PIPE_BUFFER: usize = 256 * 1024;
/// S3 allows at most 10,000 parts (here 80 GB of ciphertext).
const MAX_PARTS: i32 = 10_000;
/// First window read for the header (typical headers are about 500 bytes; a longer one is
/// simply read on with another GET).
const HEADER_WINDOW: u64 = 8 * 1024;
/// The object's content type.
pub const CONTENT_TYPE: &str = "application/octet-stream";
/// User metadata key (`x-amz-meta-quire-format`) naming the stored format.
pub const FORMAT_METADATA_KEY: &str = "quire-format";
/// ESDK message format version 2, algorithm suite 0x0478.
pub const FORMAT_METADATA_VALUE: &str = "aws-esdk-v2-0478";

/// What [`encrypt_to_s3`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3EncryptSummary {
    /// The encryption (its `ciphertext_len` is the object's size).
    pub encrypt: EncryptSummary,
    /// Parts uploaded.
    pub parts: u32,
    /// The object's ETag, as S3 returned it.
    pub e_tag: Option<String>,
    /// The object version this upload created (in a versioned bucket): what to delete if no
    /// record comes to name it, without touching any other version.
    pub version_id: Option<String>,
}

/// What [`decrypt_frames_from_s3`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3RangeSummary {
    /// Plaintext bytes written to the caller's writer.
    pub plaintext_len: u64,
    /// Size of the stored object.
    pub object_len: u64,
    /// Bytes S3 was asked to send (sum of the ranged GETs).
    pub bytes_fetched: u64,
    /// Ranged GETs made.
    pub requests: u32,
}

/// An S3 error as an I/O error that names the operation and S3's error code only.
fn s3_error<E: ProvideErrorMetadata>(operation: &'static str, error: &SdkError<E, HttpResponse>) -> io::Error {
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("unknown");
            let kind = if status == 404 || code == "NoSuchKey" || code == "NotFound" {
                io::ErrorKind::NotFound
            } else if status == 412 {
                // A condition on the object failed: read under `If-Match`, it was replaced.
                io::ErrorKind::InvalidData
            } else {
                io::ErrorKind::Other
            };
            // The code is one of S3's fixed identifiers; the message may echo the key: not used.
            let code: String = code.chars().filter(char::is_ascii_alphanumeric).take(64).collect();
            io::Error::new(kind, format!("S3 {operation} failed: {code} (HTTP {status})"))
        }
        SdkError::TimeoutError(_) => io::Error::new(io::ErrorKind::TimedOut, format!("S3 {operation} timed out")),
        SdkError::DispatchFailure(_) => io::Error::other(format!("S3 {operation} could not be sent")),
        // A transport failure, not a fact about the object.
        SdkError::ResponseError(_) => io::Error::other(format!("S3 {operation} answer was unreadable")),
        _ => io::Error::other(format!("S3 {operation} failed")),
    }
}

fn s3_crypto_error<E: ProvideErrorMetadata>(operation: &'static str, error: SdkError<E, HttpResponse>) -> CryptoError {
    CryptoError::Io(s3_error(operation, &error))
}

/// Fills `buf` from `reader` unless it ends first; returns the bytes read.
async fn read_full<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
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

/// Encrypts `plaintext` into `object` of `bucket`, under the object's encryption context, with a
/// multipart upload; see the module documentation. On an error nothing is stored (the upload is
/// aborted).
pub async fn encrypt_to_s3<R>(
    envelope: &Envelope,
    plaintext: &mut R,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &ObjectKey,
) -> Result<S3EncryptSummary, CryptoError>
where
    R: AsyncRead + Unpin + Send,
{
    let (context, key) = (&EncryptionContext::of(object), object.as_str());
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(CONTENT_TYPE)
        .metadata(FORMAT_METADATA_KEY, FORMAT_METADATA_VALUE)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .map_err(|e| s3_crypto_error("CreateMultipartUpload", e))?;
    let upload_id = created
        .upload_id()
        .ok_or(CryptoError::Io(io::Error::other(
            "S3 CreateMultipartUpload returned no upload id",
        )))?
        .to_owned();
    let result = upload(envelope, context, plaintext, s3, bucket, key, &upload_id).await;
    if result.is_err() {
        // Best effort: the error that matters is the one returned; a failed abort leaves only
        // invisible parts, which the bucket's lifecycle rule removes.
        let _ = s3
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    result
}

async fn upload<R>(
    envelope: &Envelope,
    context: &EncryptionContext,
    plaintext: &mut R,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<S3EncryptSummary, CryptoError>
where
    R: AsyncRead + Unpin + Send,
{
    let (writer, mut reader) = tokio::io::duplex(PIPE_BUFFER);
    let encrypt = async move {
        let mut writer = writer;
        let summary = envelope.encrypt(context, plaintext, &mut writer).await?;
        writer.shutdown().await?;
        Ok::<_, CryptoError>(summary)
        // An error drops `writer`: the uploader sees the end, but nothing is completed.
    };
    let parts = async move {
        let mut parts = Vec::new();
        let mut uploaded = 0u64;
        for number in 1..=MAX_PARTS {
            let mut buf = vec![0u8; PART_SIZE];
            let n = read_full(&mut reader, &mut buf).await?;
            if n == 0 {
                return Ok((parts, uploaded));
            }
            buf.truncate(n);
            let out = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .content_length(n as i64)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(|e| s3_crypto_error("UploadPart", e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                    .build(),
            );
            uploaded += n as u64;
            if n < PART_SIZE {
                return Ok((parts, uploaded));
            }
        }
        // Dropping `reader` makes the encryption fail too.
        Err(CryptoError::InvalidInput("the object needs more than 10,000 parts"))
    };
    // When the uploader fails it drops its end of the pipe, so the encryption stops with a
    // broken pipe: the uploader's error is the cause. When the encryption fails (e.g. the
    // plaintext reader errs), the uploader merely sees the end: the encryption's error is it.
    let (summary, parts) = match tokio::join!(encrypt, parts) {
        (_, Err(error)) | (Err(error), _) => return Err(error),
        (Ok(summary), Ok(parts)) => (summary, parts),
    };
    let (parts, uploaded) = parts;
    if uploaded != summary.ciphertext_len || parts.is_empty() {
        return Err(CryptoError::Internal(
            "uploaded bytes differ from the ciphertext written",
        ));
    }
    let part_count = parts.len() as u32;
    let done = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .map_err(|e| s3_crypto_error("CompleteMultipartUpload", e))?;
    Ok(S3EncryptSummary {
        encrypt: summary,
        parts: part_count,
        e_tag: done.e_tag().map(str::to_owned),
        version_id: done.version_id().map(str::to_owned),
    })
}

/// Decrypts the whole of `object` in `bucket`; see [`Opened::decrypt_body`] for what `out`
/// holds on an error.
pub async fn decrypt_from_s3<W>(
    envelope: &Envelope,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &ObjectKey,
    version_id: Option<&str>,
    out: &mut W,
) -> Result<u64, CryptoError>
where
    W: AsyncWrite + Unpin + Send,
{
    // Through the frame path: the header, the final frame (so truncation is caught first), then
    // every frame in one streamed ranged GET. (A plain read to end-of-object through
    // `Envelope::decrypt` stalled against the local emulator on multipart objects.)
    let (source, opened, layout) = open_object(envelope, s3, bucket, object, version_id).await?;
    let all = 1..layout.frame_count + 1;
    Ok(decrypt_opened(source, &opened, &layout, all, out).await?.plaintext_len)
}

/// The object's length and ETag (`HeadObject`), its header (one ranged GET) and its data key
/// (one KMS `Decrypt`), under the context its key names.
async fn open_object(
    envelope: &Envelope,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &ObjectKey,
    version_id: Option<&str>,
) -> Result<(S3Source, Opened, crate::FrameLayout), CryptoError> {
    let context = &EncryptionContext::of(object);
    let mut source = S3Source::open(s3, bucket, object, version_id).await?;
    source.set_window(HEADER_WINDOW);
    let opened: Opened = envelope.open(context, &mut source).await?;
    let layout = opened.layout(source.len())?;
    Ok((source, opened, layout))
}

/// Frames `frames` of an opened object into `out`: one GET for the final frame (clipped to the
/// object's end) and one for the whole range.
async fn decrypt_opened<W>(
    mut source: S3Source,
    opened: &Opened,
    layout: &crate::FrameLayout,
    frames: Range<u32>,
    out: &mut W,
) -> Result<S3RangeSummary, CryptoError>
where
    W: AsyncWrite + Unpin + Send,
{
    let frame_bytes = layout.frame_offset(2) - layout.frame_offset(1);
    let range_bytes = if frames.start >= 1 && frames.end > frames.start {
        layout.frame_offset(frames.end) - layout.frame_offset(frames.start)
    } else {
        0
    };
    source.set_window(range_bytes.max(frame_bytes + 8));
    let plaintext_len = opened.decrypt_frames(&mut source, frames, out).await?;
    Ok(S3RangeSummary {
        plaintext_len,
        object_len: source.len(),
        bytes_fetched: source.bytes_fetched(),
        requests: source.requests(),
    })
}

/// Decrypts plaintext bytes `bytes` (end exclusive; clamped to the plaintext's length, which
/// [`S3RangeSummary::plaintext_len`] then counts) of `object` in `bucket` into `out`, decrypting
/// only the frames that hold them (and the final frame, verified first). On an error, `out`
/// holds at most a prefix of authentic plaintext and must be discarded.
pub async fn decrypt_range_from_s3<W>(
    envelope: &Envelope,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &ObjectKey,
    version_id: Option<&str>,
    bytes: Range<u64>,
    out: &mut W,
) -> Result<S3RangeSummary, CryptoError>
where
    W: AsyncWrite + Unpin + Send,
{
    let (source, opened, layout) = open_object(envelope, s3, bucket, object, version_id).await?;
    let len = layout.plaintext_len();
    let (start, end) = (bytes.start.min(len), bytes.end.min(len).max(bytes.start.min(len)));
    let frames = layout.frames_for(start..end);
    let first = u64::from(frames.start.max(1) - 1) * u64::from(layout.frame_length);
    let mut window = Window {
        inner: out,
        skip: start.saturating_sub(first),
        take: end - start,
        passed: 0,
    };
    let mut summary = decrypt_opened(source, &opened, &layout, frames, &mut window).await?;
    summary.plaintext_len = window.passed;
    Ok(summary)
}

/// Passes on bytes `skip..skip + take` of what is written through it, and discards the rest
/// (reporting it written).
struct Window<'w, W> {
    inner: &'w mut W,
    skip: u64,
    take: u64,
    /// Bytes passed on so far.
    passed: u64,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Window<'_, W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let skipped = this.skip.min(buf.len() as u64) as usize;
        let rest = &buf[skipped..];
        let wanted = this.take.min(rest.len() as u64) as usize;
        if wanted == 0 {
            this.skip -= skipped as u64;
            return Poll::Ready(Ok(buf.len()));
        }
        let written = ready!(Pin::new(&mut *this.inner).poll_write(cx, &rest[..wanted]))?;
        // Consumed only once the kept part was taken: a pending write skips nothing yet.
        this.skip -= skipped as u64;
        this.take -= written as u64;
        this.passed += written as u64;
        Poll::Ready(Ok(skipped + written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Decrypts frames `frames` (1-based, end exclusive; see [`crate::FrameLayout::frames_for`])
/// of `object` in `bucket` into `out`, fetching only the header, the final frame and those
/// frames through an [`S3Source`].
pub async fn decrypt_frames_from_s3<W>(
    envelope: &Envelope,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &ObjectKey,
    version_id: Option<&str>,
    frames: Range<u32>,
    out: &mut W,
) -> Result<S3RangeSummary, CryptoError>
where
    W: AsyncWrite + Unpin + Send,
{
    let (source, opened, layout) = open_object(envelope, s3, bucket, object, version_id).await?;
    decrypt_opened(source, &opened, &layout, frames, out).await
}

type Body = Pin<Box<dyn AsyncRead + Send>>;
type Fetch = Pin<Box<dyn Future<Output = io::Result<Body>> + Send>>;

enum State {
    Idle,
    Fetching { fetch: Fetch, len: u64 },
    Streaming { body: Body, remaining: u64 },
}

/// An S3 object as `AsyncRead + AsyncSeek`, read through ranged `GetObject`s of at most
/// [`S3Source::set_window`] bytes each; see the module documentation.
pub struct S3Source {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    version_id: Option<String>,
    e_tag: Option<String>,
    len: u64,
    pos: u64,
    window: u64,
    state: State,
    fetched: u64,
    requests: u32,
}

impl std::fmt::Debug for S3Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Source")
            .field("len", &self.len)
            .field("pos", &self.pos)
            .field("window", &self.window)
            .field("fetched", &self.fetched)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl S3Source {
    /// `HeadObject` for the length and ETag of the version `version_id` of `object` (its current
    /// version without one); nothing is downloaded yet. Every later GET names the same version.
    pub async fn open(
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        object: &ObjectKey,
        version_id: Option<&str>,
    ) -> Result<Self, CryptoError> {
        let key = object.as_str();
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| s3_crypto_error("HeadObject", e))?;
        let len = head
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or(CryptoError::Io(io::Error::other("S3 HeadObject returned no length")))?;
        Ok(S3Source {
            client: s3.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: version_id.map(str::to_owned),
            e_tag: head.e_tag().map(str::to_owned),
            len,
            pos: 0,
            window: 1024 * 1024,
            state: State::Idle,
            fetched: 0,
            requests: 0,
        })
    }

    /// The object's length (from `HeadObject`).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Largest range of the GETs started from now on (at least 1 byte; default 1 MiB). Reading
    /// on past a window's end simply starts the next GET.
    pub fn set_window(&mut self, bytes: u64) {
        self.window = bytes.max(1);
    }

    /// Bytes S3 was asked to send so far.
    pub fn bytes_fetched(&self) -> u64 {
        self.fetched
    }

    /// GETs started so far.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    fn start_fetch(&mut self) -> State {
        let start = self.pos;
        let end = self.len.min(start.saturating_add(self.window));
        let len = end - start;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_version_id(self.version_id.clone())
            .range(format!("bytes={start}-{}", end - 1))
            .set_if_match(self.e_tag.clone());
        let total = self.len;
        let fetch = async move {
            let out = request.send().await.map_err(|e| s3_error("GetObject", &e))?;
            let expected = format!("bytes {start}-{}/{total}", end - 1);
            let range_ok = match out.content_range() {
                Some(range) => range == expected,
                // A server may answer a range covering the whole object with a plain 200.
                None => start == 0 && end == total,
            };
            if !range_ok || out.content_length() != i64::try_from(len).ok() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "S3 GetObject answered another range than asked (object changed?)",
                ));
            }
            Ok(Box::pin(out.body.into_async_read()) as Body)
        };
        self.requests += 1;
        self.fetched += len;
        State::Fetching {
            fetch: Box::pin(fetch),
            len,
        }
    }
}

impl AsyncRead for S3Source {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Idle => {
                    if this.pos >= this.len || buf.remaining() == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    this.state = this.start_fetch();
                }
                State::Fetching { fetch, len } => {
                    let len = *len;
                    match ready!(fetch.as_mut().poll(cx)) {
                        Ok(body) => this.state = State::Streaming { body, remaining: len },
                        Err(error) => {
                            this.state = State::Idle;
                            return Poll::Ready(Err(error));
                        }
                    }
                }
                State::Streaming { body, remaining } => {
                    if *remaining == 0 {
                        this.state = State::Idle;
                        continue;
                    }
                    let limit = (*remaining).min(buf.remaining() as u64) as usize;
                    // Never read past the window: the rest of `buf` is not this GET's.
                    let mut part = ReadBuf::new(buf.initialize_unfilled_to(limit));
                    let result = ready!(body.as_mut().poll_read(cx, &mut part));
                    let n = part.filled().len();
                    if let Err(error) = result {
                        this.state = State::Idle;
                        return Poll::Ready(Err(error));
                    }
                    if n == 0 {
                        this.state = State::Idle;
                        // The connection ended short of what S3 announced: a transport failure
                        // (a truncated object is found from its layout, not here).
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "S3 GetObject body ended early",
                        )));
                    }
                    buf.advance(n);
                    *remaining -= n as u64;
                    this.pos += n as u64;
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

impl AsyncSeek for S3Source {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        let target = match position {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(delta) => this.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => this.pos.checked_add_signed(delta),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the object"))?;
        if target != this.pos {
            this.state = State::Idle;
            this.pos = target;
        }
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}
