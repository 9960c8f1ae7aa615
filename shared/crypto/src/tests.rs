//! Pure tests of the message format with a raw wrapping key (no KMS): round trips, every tamper
//! probe, ranged decryption, and seeded property loops. The KMS and AWS-SDK interop tests are in
//! the black-box crate (`tests/tests/crypto.rs`).

use super::engine::{self, Keyring};
use super::format::{self, EncryptedDataKey, TAG_LEN};
use super::keys::DataKey;
use super::*;
use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use std::io::Cursor;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::ReadBuf;

/// Wraps data keys with AES-256-GCM under a fixed key, the encryption context as AAD.
struct RawKeyring {
    kek: [u8; 32],
    /// When set, `unwrap` returns this key instead (a key that does not match the header).
    lie: Option<[u8; 32]>,
}

fn raw() -> RawKeyring {
    RawKeyring {
        kek: [0x42; 32],
        lie: None,
    }
}

impl RawKeyring {
    fn key(&self) -> RandomizedNonceKey {
        RandomizedNonceKey::new(&AES_256_GCM, &self.kek).unwrap()
    }
}

impl Keyring for RawKeyring {
    async fn generate(&self, context: &EncryptionContext) -> Result<(DataKey, EncryptedDataKey), CryptoError> {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).unwrap();
        let aad = format::serialize_context(context.pairs())?;
        let mut sealed = key.to_vec();
        let nonce = self
            .key()
            .seal_in_place_append_tag(Aad::from(aad), &mut sealed)
            .unwrap();
        let mut ciphertext = nonce.as_ref().to_vec();
        ciphertext.extend_from_slice(&sealed);
        let edk = EncryptedDataKey {
            provider_id: "quire-test".into(),
            provider_info: b"raw".to_vec(),
            ciphertext,
        };
        Ok((DataKey::from_slice(&key)?, edk))
    }

    async fn unwrap(&self, context: &EncryptionContext, edks: &[EncryptedDataKey]) -> Result<DataKey, CryptoError> {
        if let Some(lie) = self.lie {
            return DataKey::from_slice(&lie);
        }
        let aad = format::serialize_context(context.pairs())?;
        for edk in edks {
            if edk.provider_id != "quire-test" || edk.ciphertext.len() < NONCE_LEN {
                continue;
            }
            let (nonce, sealed) = edk.ciphertext.split_at(NONCE_LEN);
            let mut sealed = sealed.to_vec();
            let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
            if let Ok(plain) = self.key().open_in_place(nonce, Aad::from(aad.clone()), &mut sealed) {
                return DataKey::from_slice(plain);
            }
        }
        Err(CryptoError::NoUsableKey)
    }
}

fn org(name: &str) -> OrgId {
    OrgId::parse(name).unwrap()
}

fn ctx(org_name: &str, id: &str) -> EncryptionContext {
    EncryptionContext::attachment(&org(org_name), id).unwrap()
}

/// Deterministic pseudo-random numbers (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// An `AsyncRead` handing out its data in pieces of random sizes (short reads).
struct Choppy {
    data: Vec<u8>,
    pos: usize,
    rng: Rng,
}

impl tokio::io::AsyncRead for Choppy {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let left = self.data.len() - self.pos;
        let n = (self.rng.below(97) as usize + 1).min(left).min(buf.remaining());
        let pos = self.pos;
        buf.put_slice(&self.data[pos..pos + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn encrypt(context: &EncryptionContext, frame: u32, plain: &[u8]) -> (Vec<u8>, EncryptSummary) {
    block(async {
        let mut out = Vec::new();
        let summary = engine::encrypt(&raw(), context, frame, &mut &plain[..], &mut out)
            .await
            .unwrap();
        (out, summary)
    })
}

fn decrypt_with(
    keyring: &RawKeyring,
    context: &EncryptionContext,
    message: &[u8],
) -> (Result<u64, CryptoError>, Vec<u8>) {
    block(async {
        let mut out = Vec::new();
        let mut reader = message;
        let result = match engine::open(keyring, context, &mut reader).await {
            Ok(opened) => opened.decrypt_body(&mut reader, &mut out).await,
            Err(e) => Err(e),
        };
        (result, out)
    })
}

fn decrypt(context: &EncryptionContext, message: &[u8]) -> (Result<u64, CryptoError>, Vec<u8>) {
    decrypt_with(&raw(), context, message)
}

fn decrypt_range(context: &EncryptionContext, message: &[u8], frames: Range<u32>) -> Result<Vec<u8>, CryptoError> {
    block(async {
        let mut source = Cursor::new(message.to_vec());
        let opened = engine::open(&raw(), context, &mut source).await?;
        let mut out = Vec::new();
        opened.decrypt_frames(&mut source, frames, &mut out).await?;
        Ok(out)
    })
}

/// A failed decryption released only whole authentic frames from the start of the plaintext,
/// none at or after `limit` (the byte where the damage lies, as plaintext frames).
fn assert_fails_cleanly(
    result: &Result<u64, CryptoError>,
    out: &[u8],
    plain: &[u8],
    frame: u32,
    frames_before_damage: u64,
    what: &str,
) {
    assert!(result.is_err(), "{what}: decryption succeeded");
    assert!(
        plain.starts_with(out),
        "{what}: released bytes that are not the plaintext"
    );
    assert_eq!(out.len() % frame as usize, 0, "{what}: released a partial frame");
    assert!(
        out.len() as u64 <= frames_before_damage.saturating_mul(frame as u64),
        "{what}: released {} bytes, beyond the {} intact frames",
        out.len(),
        frames_before_damage
    );
}

/// Byte ranges of each frame of a message (start, end).
fn frame_spans(summary: &EncryptSummary, total: usize) -> Vec<(usize, usize)> {
    let layout = FrameLayout::new(summary.header_len, summary.frame_length, total as u64).unwrap();
    (1..=layout.frame_count)
        .map(|seq| {
            let start = layout.frame_offset(seq) as usize;
            let end = if seq == layout.frame_count {
                total
            } else {
                layout.frame_offset(seq + 1) as usize
            };
            (start, end)
        })
        .collect()
}

/// Proves: CRY-1, TEN-4
#[test]
fn round_trips_at_frame_boundaries() {
    let mut rng = Rng(1);
    for frame in [1u32, 16, 64, 4096, DEFAULT_FRAME_LENGTH] {
        let f = frame as usize;
        for size in [0, 1, f.saturating_sub(1), f, f + 1, 3 * f, 5 * f + 7] {
            let plain = rng.bytes(size);
            let context = ctx("acme", "att-1");
            let (message, summary) = encrypt(&context, frame, &plain);
            assert_eq!(summary.plaintext_len, size as u64);
            assert_eq!(summary.ciphertext_len, message.len() as u64);
            assert_eq!(summary.frame_count as usize, size / f + 1, "final frame always present");
            let layout = FrameLayout::new(summary.header_len, frame, message.len() as u64).unwrap();
            assert_eq!(layout.frame_count, summary.frame_count);
            assert_eq!(layout.plaintext_len(), size as u64);
            let (result, out) = decrypt(&context, &message);
            assert_eq!(result.unwrap(), size as u64, "frame {frame} size {size}");
            assert_eq!(out, plain, "frame {frame} size {size}");
        }
    }
}

/// Proves: CRY-1
#[test]
fn header_is_esdk_v2_committing_framed() {
    let context = ctx("acme", "att-1");
    let (message, summary) = encrypt(&context, 4096, b"hello");
    assert_eq!(message[0], 0x02, "message format version 2");
    assert_eq!(&message[1..3], &[0x04, 0x78], "suite 0x0478");
    let (header, body, _) = block(format::read_header(&mut &message[..], MAX_FRAME_LENGTH)).unwrap();
    assert_eq!(body.len() as u64 + TAG_LEN as u64, summary.header_len);
    assert_eq!(header.frame_length, 4096);
    assert_eq!(
        header.context,
        vec![("attachmentId".into(), "att-1".into()), ("orgId".into(), "acme".into())]
    );
    assert_eq!(header.edks.len(), 1);
    // Each object gets its own message id, hence its own derived key.
    let (again, _) = encrypt(&context, 4096, b"hello");
    assert_ne!(message[3..35], again[3..35]);
}

/// Proves: CRY-1, TEN-4
#[test]
fn every_flipped_byte_fails_and_releases_no_unauthenticated_plaintext() {
    let mut rng = Rng(2);
    for (frame, size) in [(32u32, 3 * 32 + 5), (32, 3 * 32), (16, 0), (48, 47)] {
        let plain = rng.bytes(size);
        let context = ctx("acme", "att-flip");
        let (message, summary) = encrypt(&context, frame, &plain);
        let spans = frame_spans(&summary, message.len());
        for pos in 0..message.len() {
            for bit in [0x01u8, 0x80] {
                let mut damaged = message.clone();
                damaged[pos] ^= bit;
                let (result, out) = decrypt(&context, &damaged);
                let intact = spans.iter().filter(|(_, end)| *end <= pos).count() as u64;
                assert_fails_cleanly(&result, &out, &plain, frame, intact, &format!("flip {bit:#x} at {pos}"));
                if (pos as u64) < summary.header_len {
                    assert!(out.is_empty(), "header damage at {pos} released plaintext");
                }
            }
        }
    }
}

/// Proves: CRY-1
#[test]
fn every_truncation_and_any_extension_fails() {
    let mut rng = Rng(3);
    for (frame, size) in [(32u32, 3 * 32 + 5), (32, 3 * 32), (16, 0)] {
        let plain = rng.bytes(size);
        let context = ctx("acme", "att-trunc");
        let (message, _) = encrypt(&context, frame, &plain);
        for len in 0..message.len() {
            let (result, out) = decrypt(&context, &message[..len]);
            assert_fails_cleanly(&result, &out, &plain, frame, u64::MAX, &format!("truncated to {len}"));
            // Ranged decryption notices the truncation even for frame 1 only.
            assert!(
                decrypt_range(&context, &message[..len], 1..2).is_err(),
                "ranged, truncated to {len}"
            );
        }
        let mut longer = message.clone();
        longer.push(0);
        let (result, out) = decrypt(&context, &longer);
        assert_fails_cleanly(&result, &out, &plain, frame, u64::MAX, "one byte appended");
        assert!(decrypt_range(&context, &longer, 1..2).is_err());
    }
}

/// Proves: CRY-1, TEN-4
#[test]
fn reordered_duplicated_dropped_and_spliced_frames_fail() {
    let mut rng = Rng(4);
    let frame = 32u32;
    let plain = rng.bytes(4 * 32 + 9);
    let context = ctx("acme", "att-a");
    let (message, summary) = encrypt(&context, frame, &plain);
    let spans = frame_spans(&summary, message.len());
    let header = &message[..summary.header_len as usize];
    let part = |i: usize| &message[spans[i].0..spans[i].1];
    let build = |order: &[&[u8]]| -> Vec<u8> {
        let mut m = header.to_vec();
        for p in order {
            m.extend_from_slice(p);
        }
        m
    };
    // The other object of the same tenant: same context, so only the frames can tell.
    let (other, other_summary) = encrypt(&context, frame, &plain);
    let other_spans = frame_spans(&other_summary, other.len());
    let other_part = |i: usize| &other[other_spans[i].0..other_spans[i].1];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "swap frames 1 and 2",
            build(&[part(1), part(0), part(2), part(3), part(4)]),
        ),
        (
            "duplicate frame 1",
            build(&[part(0), part(0), part(1), part(2), part(3), part(4)]),
        ),
        ("drop frame 2", build(&[part(0), part(2), part(3), part(4)])),
        ("drop the final frame", build(&[part(0), part(1), part(2), part(3)])),
        ("final frame moved up", build(&[part(0), part(4)])),
        (
            "frame 2 spliced from another object",
            build(&[part(0), other_part(1), part(2), part(3), part(4)]),
        ),
        (
            "final frame spliced from another object",
            build(&[part(0), part(1), part(2), part(3), other_part(4)]),
        ),
        ("header of another object", {
            let mut m = other[..other_summary.header_len as usize].to_vec();
            m.extend_from_slice(&message[summary.header_len as usize..]);
            m
        }),
    ];
    for (what, damaged) in cases {
        let (result, out) = decrypt(&context, &damaged);
        assert_fails_cleanly(&result, &out, &plain, frame, u64::MAX, what);
        if what.starts_with("header") {
            assert!(out.is_empty(), "{what}: released plaintext");
        }
    }
}

/// Proves: CRY-1, TEN-4
#[test]
fn another_object_or_tenant_context_is_refused() {
    let plain = b"quarterly figures".to_vec();
    let context = ctx("acme", "att-1");
    let (message, _) = encrypt(&context, 64, &plain);
    let wrong = [
        ctx("acme", "att-2"),
        ctx("globex", "att-1"),
        EncryptionContext::export(&org("acme"), "att-1").unwrap(),
    ];
    for other in &wrong {
        let (result, out) = decrypt(other, &message);
        assert!(
            matches!(result, Err(CryptoError::ContextMismatch)),
            "{other:?}: {result:?}"
        );
        assert!(out.is_empty());
    }
    // A header rewritten to claim another tenant's context fails authentication.
    let (globex_message, summary) = encrypt(&ctx("globex", "att-1"), 64, &plain);
    let mut spliced = globex_message[..summary.header_len as usize].to_vec();
    spliced.extend_from_slice(&message[summary.header_len as usize..]);
    let (result, out) = decrypt(&ctx("globex", "att-1"), &spliced);
    assert!(result.is_err() && out.is_empty());
}

/// Proves: CRY-1
#[test]
fn a_different_data_key_fails_the_commitment_check() {
    let context = ctx("acme", "att-1");
    let (message, _) = encrypt(&context, 64, b"committed");
    let liar = RawKeyring {
        kek: [0x42; 32],
        lie: Some([7; 32]),
    };
    let (result, out) = decrypt_with(&liar, &context, &message);
    assert!(matches!(result, Err(CryptoError::Authentication)), "{result:?}");
    assert!(out.is_empty());
    // A wrapping key that is not ours unwraps nothing.
    let stranger = RawKeyring {
        kek: [0x43; 32],
        lie: None,
    };
    let (result, _) = decrypt_with(&stranger, &context, &message);
    assert!(matches!(result, Err(CryptoError::NoUsableKey)), "{result:?}");
}

/// Proves: CRY-1
#[test]
fn ranged_decryption_returns_exactly_the_frames() {
    let mut rng = Rng(5);
    let frame = 100u32;
    let plain = rng.bytes(1234);
    let context = ctx("acme", "att-range");
    let (message, summary) = encrypt(&context, frame, &plain);
    let layout = FrameLayout::new(summary.header_len, frame, message.len() as u64).unwrap();
    assert_eq!(layout.frame_count, 13);
    for start in 1..=layout.frame_count {
        for end in start..=layout.frame_count + 1 {
            let out = decrypt_range(&context, &message, start..end).unwrap();
            let from = ((start - 1) * frame) as usize;
            let to = (((end - 1) * frame) as usize).min(plain.len());
            assert_eq!(out, plain[from.min(to)..to], "frames {start}..{end}");
        }
    }
    assert_eq!(layout.frames_for(0..1), 1..2);
    assert_eq!(layout.frames_for(99..101), 1..3);
    assert_eq!(layout.frames_for(1200..5000), 13..14);
    assert_eq!(layout.frames_for(5000..6000), 1..1);
    assert!(decrypt_range(&context, &message, 0..2).is_err());
    assert!(decrypt_range(&context, &message, 1..15).is_err());
    // Tampering inside a requested frame fails; other tenants' context fails.
    let mut damaged = message.clone();
    let at = layout.frame_offset(3) as usize + 20;
    damaged[at] ^= 1;
    assert!(decrypt_range(&context, &damaged, 3..4).is_err());
    assert!(decrypt_range(&ctx("globex", "att-range"), &message, 1..2).is_err());
}

/// Proves: CRY-1
#[test]
fn random_sizes_and_frame_lengths_round_trip() {
    let mut rng = Rng(0x5eed);
    for round in 0..300 {
        let frame = rng.below(300) as u32 + 1;
        let size = rng.below(3000) as usize;
        let plain = rng.bytes(size);
        let context = ctx("acme", &format!("att-{round}"));
        let (message, summary) = block(async {
            let mut source = Choppy {
                data: plain.clone(),
                pos: 0,
                rng: Rng(round + 1),
            };
            let mut out = Vec::new();
            let summary = engine::encrypt(&raw(), &context, frame, &mut source, &mut out)
                .await
                .unwrap();
            (out, summary)
        });
        let (result, out) = decrypt(&context, &message);
        assert_eq!(result.unwrap(), size as u64, "round {round}");
        assert_eq!(out, plain, "round {round}: frame {frame} size {size}");
        // A random byte range, through the frames that hold it.
        let layout = FrameLayout::new(summary.header_len, frame, message.len() as u64).unwrap();
        let a = rng.below(size as u64 + 1);
        let b = rng.below(size as u64 + 1);
        let (from, to) = (a.min(b), a.max(b));
        let frames = layout.frames_for(from..to);
        let got = decrypt_range(&context, &message, frames.clone()).unwrap();
        let skip = (from - ((frames.start.max(1) - 1) as u64 * frame as u64).min(from)) as usize;
        if from < to {
            assert_eq!(
                &got[skip..skip + (to - from) as usize],
                &plain[from as usize..to as usize]
            );
        } else {
            assert!(got.is_empty());
        }
        // And one random flip anywhere fails.
        let mut damaged = message.clone();
        let pos = rng.below(message.len() as u64) as usize;
        damaged[pos] ^= 1 << rng.below(8);
        let (result, out) = decrypt(&context, &damaged);
        assert_fails_cleanly(
            &result,
            &out,
            &plain,
            frame,
            u64::MAX,
            &format!("round {round} flip {pos}"),
        );
    }
}

/// Proves: CRY-1
#[test]
fn streams_large_objects_through_a_pipe() {
    // 24 MiB through a 64 KiB pipe: neither side can hold the object, so both stream.
    const SIZE: u64 = 24 * 1024 * 1024;
    let context = ctx("acme", "att-big");
    let (summary, decrypted) = block(async {
        let (mut writer, mut reader) = tokio::io::duplex(64 * 1024);
        let keyring = raw();
        let encrypt = async {
            let mut source = tokio::io::AsyncReadExt::take(tokio::io::repeat(0xA5), SIZE);
            let summary = engine::encrypt(&keyring, &context, DEFAULT_FRAME_LENGTH, &mut source, &mut writer)
                .await
                .unwrap();
            drop(writer);
            summary
        };
        let decrypt = async {
            let opened = engine::open(&keyring, &context, &mut reader).await.unwrap();
            let mut sink = tokio::io::sink();
            opened.decrypt_body(&mut reader, &mut sink).await.unwrap()
        };
        tokio::join!(encrypt, decrypt)
    });
    assert_eq!(summary.plaintext_len, SIZE);
    assert_eq!(decrypted, SIZE);
    assert_eq!(summary.frame_count as u64, SIZE / DEFAULT_FRAME_LENGTH as u64 + 1);
}

/// Proves: CRY-1, TEN-4
#[test]
fn contexts_are_built_only_from_ids_and_errors_leak_nothing() {
    assert!(EncryptionContext::attachment(&org("acme"), "").is_err());
    assert!(EncryptionContext::attachment(&org("acme"), "a/b").is_err());
    assert!(EncryptionContext::attachment(&org("acme"), &"x".repeat(129)).is_err());
    let key = DataKey::from_slice(&[0xAB; 32]).unwrap();
    assert_eq!(format!("{key:?}"), "DataKey(..)");
    let errors = [
        CryptoError::Authentication,
        CryptoError::ContextMismatch,
        CryptoError::Truncated,
        CryptoError::Malformed("x"),
        CryptoError::NoUsableKey,
    ];
    for error in errors {
        let text = error.to_string();
        assert!(!text.to_lowercase().contains("abab"), "{text}");
    }
}

/// The public futures are `Send` (they run inside Lambda handlers on a multi-threaded runtime).
#[allow(dead_code)]
fn futures_are_send(envelope: &Envelope, context: &EncryptionContext) {
    fn send<T: Send>(_: T) {}
    let mut input: &[u8] = b"";
    let mut output = Vec::new();
    send(envelope.encrypt(context, &mut input, &mut output));
    let mut input: &[u8] = b"";
    send(envelope.decrypt(context, &mut input, &mut output));
    let mut source = Cursor::new(Vec::new());
    send(envelope.decrypt_frames(context, &mut source, 1..2, &mut output));
}

/// Hands out one plaintext data key, as AWS's vectors give it (`decrypted-dek`): their encrypted
/// data keys are AWS KMS keys no test can reach.
struct KnownDataKey([u8; 32]);

impl Keyring for KnownDataKey {
    async fn generate(&self, _: &EncryptionContext) -> Result<(DataKey, EncryptedDataKey), CryptoError> {
        Err(CryptoError::Internal("a known data key only decrypts"))
    }

    async fn unwrap(&self, _: &EncryptionContext, _: &[EncryptedDataKey]) -> Result<DataKey, CryptoError> {
        DataKey::from_slice(&self.0)
    }
}

/// AWS's "Message Format V2" test vectors whose frame IV is not the sequence number
/// (`tests/vectors/aws-esdk-message-format-v2.json`, from the AWS Encryption SDK for
/// JavaScript, Apache-2.0): the format lets a writer choose the IV, so every valid one decrypts,
/// and the ones AWS marks as invalid (two data keys for one ciphertext) are refused.
///
/// Proves: CRY-1
#[tokio::test]
async fn aws_message_format_v2_vectors_decrypt_as_published() {
    use base64::Engine as _;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/aws-esdk-message-format-v2.json");
    let vectors: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        assert!(
            case["frameIvs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|iv| iv != "000000000000000000000001"),
            "{name}: a vector whose IV is the sequence number proves nothing here"
        );
        let key: [u8; 32] = b64(&case["dataKey"]).try_into().unwrap();
        let mut pairs: Vec<(String, String)> = case["encryptionContext"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let context = EncryptionContext { pairs };
        let message = b64(&case["message"]);
        let mut reader = Cursor::new(message);
        let mut plaintext = Vec::new();
        let result = match engine::open(&KnownDataKey(key), &context, &mut reader).await {
            Ok(opened) => opened.decrypt_body(&mut reader, &mut plaintext).await.map(|_| ()),
            Err(error) => Err(error),
        };
        match case["result"].as_str().unwrap() {
            "success" => {
                result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(
                    String::from_utf8(plaintext).unwrap(),
                    case["plaintext"].as_str().unwrap(),
                    "{name}"
                );
            }
            _ => assert!(result.is_err(), "{name}: AWS marks it invalid"),
        }
    }
}
