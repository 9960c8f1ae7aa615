//! CRY-1 and TEN-4 in S3: `quire_crypto::s3` against the local stack's S3 and KMS. Objects are
//! encrypted straight into a multipart upload and decrypted whole or by a range of frames
//! fetched with ranged GETs; tampered, truncated and foreign objects fail, and a failed upload
//! leaves nothing behind.

use quire_blackbox_tests::{harness, uuid_hex, Harness};
use quire_core::ids::{AttachmentId, OrgId};
use quire_crypto::s3::{
    decrypt_frames_from_s3, decrypt_from_s3, encrypt_to_s3, S3Source, FORMAT_METADATA_KEY, FORMAT_METADATA_VALUE,
    PART_SIZE,
};
use quire_crypto::{CryptoError, Envelope, FrameLayout};
use quire_store::ObjectKey;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

async fn bucket(h: &Harness) -> String {
    h.on_stack(|stack| async move { stack.provisioned.bucket.clone() })
        .await
}

struct Env {
    envelope: Envelope,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

async fn env(h: &Harness) -> Env {
    Env {
        envelope: Envelope::new(h.kms(), h.kms_key_arn().await).unwrap(),
        s3: h.s3(),
        bucket: bucket(h).await,
    }
}

fn org(h: &Harness, slug: &str) -> OrgId {
    h.org(slug).org_id.clone()
}

/// A fresh attachment of `org`: its object (key and encryption context from the same ids).
fn attachment(org: &OrgId) -> ObjectKey {
    ObjectKey::attachment(
        &quire_store::testing::scope(org),
        &AttachmentId::parse(&uuid_hex()).unwrap(),
    )
}

/// Deterministic test bytes (xorshift), so a failure reproduces.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn get_raw(e: &Env, object: &ObjectKey) -> Vec<u8> {
    let out =
        e.s3.get_object()
            .bucket(&e.bucket)
            .key(object.as_str())
            .send()
            .await
            .expect("raw get");
    out.body.collect().await.expect("raw body").into_bytes().to_vec()
}

/// Stores bytes under an object's key directly, as someone with bucket access could.
async fn put_raw(e: &Env, object: &ObjectKey, body: Vec<u8>) {
    e.s3.put_object()
        .bucket(&e.bucket)
        .key(object.as_str())
        .body(body.into())
        .send()
        .await
        .expect("raw put");
}

async fn assert_no_pending_upload(e: &Env, key: &ObjectKey) {
    let pending =
        e.s3.list_multipart_uploads()
            .bucket(&e.bucket)
            .prefix(key.as_str())
            .send()
            .await
            .expect("list uploads");
    assert!(pending.uploads().is_empty(), "{:?}", pending.uploads());
}

async fn decrypt_whole(e: &Env, object: &ObjectKey) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    decrypt_from_s3(&e.envelope, &e.s3, &e.bucket, object, None, &mut out).await?;
    Ok(out)
}

async fn decrypt_range(e: &Env, object: &ObjectKey, frames: std::ops::Range<u32>) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    decrypt_frames_from_s3(&e.envelope, &e.s3, &e.bucket, object, None, frames, &mut out).await?;
    Ok(out)
}

/// Proves: CRY-1, TEN-4
#[tokio::test]
async fn objects_round_trip_through_multipart_upload_and_ranged_reads() {
    let h = harness();
    let e = env(h).await;
    let acme = org(h, "acme");
    for (seed, size) in [(1u64, 0usize), (2, 1), (3, 20 * 1024 * 1024 + 12_345)] {
        let plain = bytes(seed, size);
        let key = attachment(&acme);
        let stored = encrypt_to_s3(&e.envelope, &mut &plain[..], &e.s3, &e.bucket, &key)
            .await
            .expect("encrypt to S3");
        assert_eq!(stored.encrypt.plaintext_len, size as u64);
        let expected_parts = (stored.encrypt.ciphertext_len as usize).div_ceil(PART_SIZE) as u32;
        assert_eq!(stored.parts, expected_parts, "size {size}");

        let head =
            e.s3.head_object()
                .bucket(&e.bucket)
                .key(key.as_str())
                .send()
                .await
                .expect("head");
        assert_eq!(head.content_length(), Some(stored.encrypt.ciphertext_len as i64));
        assert_eq!(head.content_type(), Some("application/octet-stream"));
        let format = head
            .metadata()
            .and_then(|m| m.get(FORMAT_METADATA_KEY))
            .map(String::as_str);
        assert_eq!(format, Some(FORMAT_METADATA_VALUE));

        assert_eq!(decrypt_whole(&e, &key).await.expect("decrypt"), plain, "size {size}");
        let all = 1..stored.encrypt.frame_count + 1;
        assert_eq!(decrypt_range(&e, &key, all).await.expect("all frames"), plain);
    }
}

/// Proves: CRY-1, TEN-4
#[tokio::test]
async fn a_range_of_frames_is_fetched_without_downloading_the_object() {
    let h = harness();
    let e = env(h).await;
    let key = attachment(&org(h, "acme"));
    let plain = bytes(7, 20 * 1024 * 1024);
    let stored = encrypt_to_s3(&e.envelope, &mut &plain[..], &e.s3, &e.bucket, &key)
        .await
        .expect("encrypt to S3");
    assert_eq!(stored.parts, 3);
    let s = stored.encrypt;
    let layout = FrameLayout::new(s.header_len, s.frame_length, s.ciphertext_len).unwrap();

    // A segment of a download: 200 KB from the middle.
    let wanted = 10_000_000u64..10_200_000;
    let frames = layout.frames_for(wanted.clone());
    let mut out = Vec::new();
    let read = decrypt_frames_from_s3(&e.envelope, &e.s3, &e.bucket, &key, None, frames.clone(), &mut out)
        .await
        .expect("ranged decryption");
    let first = (frames.start as u64 - 1) * s.frame_length as u64;
    assert_eq!(out, plain[first as usize..first as usize + out.len()]);
    let offset = (wanted.start - first) as usize;
    assert_eq!(
        out[offset..offset + 200_000],
        plain[wanted.start as usize..wanted.end as usize]
    );
    assert_eq!(read.object_len, s.ciphertext_len);
    // Header window, final frame, the frames themselves: a few hundred KB of a 20 MiB object.
    let needed = layout.frame_offset(frames.end) - layout.frame_offset(frames.start);
    println!(
        "ranged read of frames {frames:?} ({} plaintext bytes): {} bytes fetched in {} GETs of a {}-byte object",
        read.plaintext_len, read.bytes_fetched, read.requests, read.object_len
    );
    assert!(
        read.bytes_fetched < needed + 160 * 1024,
        "fetched {}",
        read.bytes_fetched
    );
    assert!(read.bytes_fetched * 50 < read.object_len);
    assert_eq!(read.requests, 3);

    // The source on its own reports the object's size without fetching it.
    let source = S3Source::open(&e.s3, &e.bucket, &key, None).await.expect("open");
    assert_eq!((source.len(), source.bytes_fetched()), (s.ciphertext_len, 0));
}

/// Proves: CRY-1, TEN-4
#[tokio::test]
async fn tampered_truncated_and_foreign_objects_fail() {
    let h = harness();
    let e = env(h).await;
    let acme = org(h, "acme");
    let key = attachment(&acme);
    let plain = bytes(11, 1024 * 1024 + 17);
    let stored = encrypt_to_s3(&e.envelope, &mut &plain[..], &e.s3, &e.bucket, &key)
        .await
        .expect("encrypt to S3");
    let s = stored.encrypt;
    let layout = FrameLayout::new(s.header_len, s.frame_length, s.ciphertext_len).unwrap();
    let original = get_raw(&e, &key).await;
    assert_eq!(original.len() as u64, s.ciphertext_len);

    // One flipped byte in frame 5's ciphertext, written over the object in place.
    let mut tampered = original.clone();
    tampered[layout.frame_offset(5) as usize + 100] ^= 0x01;
    put_raw(&e, &key, tampered).await;
    assert!(matches!(
        decrypt_whole(&e, &key).await,
        Err(CryptoError::Authentication)
    ));
    assert!(matches!(
        decrypt_range(&e, &key, 4..6).await,
        Err(CryptoError::Authentication)
    ));
    assert_eq!(
        decrypt_range(&e, &key, 1..5).await.expect("untouched frames").len(),
        4 * 65536
    );

    // Truncated: the final frame is missing, at a frame boundary and inside a frame.
    for cut in [layout.frame_offset(layout.frame_count), s.ciphertext_len - 1] {
        put_raw(&e, &key, original[..cut as usize].to_vec()).await;
        assert!(decrypt_whole(&e, &key).await.is_err(), "cut at {cut}");
        let result = decrypt_range(&e, &key, 1..2).await;
        assert!(
            result.is_err(),
            "range at the start of an object cut at {cut}: {result:?}"
        );
    }

    // The object copied under another tenant's key (same attachment id), and under another
    // attachment of the same tenant: the context derived from that key does not open it.
    let id = AttachmentId::parse(key.id()).unwrap();
    let globex = ObjectKey::attachment(&quire_store::testing::scope(&org(h, "globex")), &id);
    let other = attachment(&acme);
    for foreign in [&globex, &other] {
        put_raw(&e, foreign, original.clone()).await;
        assert!(matches!(
            decrypt_whole(&e, foreign).await,
            Err(CryptoError::ContextMismatch)
        ));
        assert!(matches!(
            decrypt_range(&e, foreign, 1..2).await,
            Err(CryptoError::ContextMismatch)
        ));
    }

    // A missing object is NotFound, and the error names neither bucket nor key.
    let missing = attachment(&acme);
    match decrypt_range(&e, &missing, 1..2).await {
        Err(CryptoError::Io(error)) => {
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
            let text = error.to_string();
            assert!(!text.contains(&e.bucket) && !text.contains("attachments"), "{text}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    put_raw(&e, &key, original).await;
    assert_eq!(
        decrypt_whole(&e, &key).await.expect("the original decrypts again"),
        plain
    );
}

/// A plaintext source that yields `ok` bytes and then fails.
struct FailingReader {
    data: Vec<u8>,
    pos: usize,
}

impl AsyncRead for FailingReader {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.pos >= self.data.len() {
            return Poll::Ready(Err(io::Error::other("source broke")));
        }
        let n = buf.remaining().min(self.data.len() - self.pos).min(64 * 1024);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// Proves: CRY-1, TEN-4
#[tokio::test]
async fn a_failed_upload_leaves_no_object_and_no_pending_upload() {
    let h = harness();
    let e = env(h).await;
    let key = attachment(&org(h, "acme"));
    // Fails after more than one part was uploaded.
    let mut reader = FailingReader {
        data: bytes(13, PART_SIZE + 3 * 1024 * 1024),
        pos: 0,
    };
    let upload = encrypt_to_s3(&e.envelope, &mut reader, &e.s3, &e.bucket, &key);
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let result = assert_send(upload).await;
    match result {
        Err(CryptoError::Io(error)) => assert!(error.to_string().contains("source broke"), "{error}"),
        other => panic!("expected the reader's error, got {other:?}"),
    }
    let head = e.s3.head_object().bucket(&e.bucket).key(key.as_str()).send().await;
    let status = head.expect_err("no object").raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(404));
    assert_no_pending_upload(&e, &key).await;
}

/// A stored version reads back by its id whatever is written to its key later: a second
/// upload to the key is a version of its own (the key's current object), and the first's
/// version, as its summary names it, still decrypts whole and by frames, also once the
/// second is deleted.
///
/// Proves: CRY-1
#[tokio::test]
async fn a_stored_version_reads_back_whatever_is_written_to_its_key_later() {
    let h = harness();
    let e = env(h).await;
    let key = attachment(&org(h, "acme"));
    let first = bytes(21, 3000);
    let stored = encrypt_to_s3(&e.envelope, &mut first.as_slice(), &e.s3, &e.bucket, &key)
        .await
        .expect("the first upload");
    let version = stored.version_id.expect("the bucket is versioned");
    let second = bytes(22, 3000);
    let later = encrypt_to_s3(&e.envelope, &mut second.as_slice(), &e.s3, &e.bucket, &key)
        .await
        .expect("the second upload");
    let later = later.version_id.expect("a version of its own");
    assert_ne!(later, version);
    assert_eq!(decrypt_whole(&e, &key).await.expect("the current object"), second);
    let by_version = |version: String| {
        let (e, key) = (&e, &key);
        async move {
            let mut whole = Vec::new();
            decrypt_from_s3(&e.envelope, &e.s3, &e.bucket, key, Some(&version), &mut whole).await?;
            let mut frames = Vec::new();
            decrypt_frames_from_s3(&e.envelope, &e.s3, &e.bucket, key, Some(&version), 1..2, &mut frames).await?;
            Ok::<_, CryptoError>((whole, frames))
        }
    };
    let (whole, frames) = by_version(version.clone()).await.expect("the first, by its version");
    assert_eq!(whole, first);
    assert!(!frames.is_empty() && first.starts_with(&frames));
    e.s3.delete_object()
        .bucket(&e.bucket)
        .key(key.as_str())
        .version_id(&later)
        .send()
        .await
        .expect("delete the second");
    assert_eq!(by_version(version).await.expect("still there").0, first);
    assert_no_pending_upload(&e, &key).await;
}
