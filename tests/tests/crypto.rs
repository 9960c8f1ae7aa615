//! CRY-1 and TEN-4 against the local stack's KMS: `quire_crypto` with real KMS data keys bound to
//! `{orgId, attachmentId}`, and interoperability both ways with AWS's official Python
//! `aws-encryption-sdk` (scripts/esdk_interop.py, from the project's .venv) — files Quire
//! encrypts are decrypted by it, files it encrypts are decrypted by Quire.

use quire_blackbox_tests::{harness, uuid_hex, Harness};
use quire_core::ids::OrgId;
use quire_crypto::{CryptoError, EncryptionContext, Envelope, DEFAULT_FRAME_LENGTH};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

async fn envelope(h: &Harness, frame_length: u32) -> Envelope {
    Envelope::new(h.kms(), h.kms_key_arn().await)
        .unwrap()
        .with_frame_length(frame_length)
        .unwrap()
}

fn org(h: &Harness, slug: &str) -> OrgId {
    h.org(slug).org_id.clone()
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

async fn encrypt(env: &Envelope, context: &EncryptionContext, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    env.encrypt(context, &mut &plain[..], &mut out).await.expect("encrypt");
    out
}

async fn decrypt(env: &Envelope, context: &EncryptionContext, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    env.decrypt(context, &mut &message[..], &mut out).await?;
    Ok(out)
}

/// Sizes around the frame boundaries, plus several frames.
fn sizes(frame: usize) -> Vec<usize> {
    vec![0, 1, frame - 1, frame, frame + 1, 5 * frame + 3]
}

/// Proves: CRY-1, TEN-4
#[tokio::test]
async fn kms_data_keys_round_trip_and_bind_tenant_and_object() {
    let h = harness();
    let env = envelope(h, 4096).await;
    let acme = org(h, "acme");
    let globex = org(h, "globex");
    for (i, size) in sizes(4096).into_iter().enumerate() {
        let id = format!("att-{i:04}");
        let context = EncryptionContext::attachment(&acme, &id).unwrap();
        let plain = bytes(i as u64 + 1, size);
        let message = encrypt(&env, &context, &plain).await;
        assert_eq!(decrypt(&env, &context, &message).await.unwrap(), plain, "size {size}");
        // Ranged: the last frame alone.
        let mut source = Cursor::new(message.clone());
        let opened = env.open(&context, &mut source).await.unwrap();
        let layout = opened.layout(message.len() as u64).unwrap();
        let mut out = Vec::new();
        let frames = layout.frame_count..layout.frame_count + 1;
        env.decrypt_frames(&context, &mut source, frames, &mut out)
            .await
            .unwrap();
        assert_eq!(out, plain[(layout.frame_count as usize - 1) * 4096..]);

        for wrong in [
            EncryptionContext::attachment(&acme, "att-other").unwrap(),
            EncryptionContext::attachment(&globex, &id).unwrap(),
            EncryptionContext::export(&acme, &id).unwrap(),
        ] {
            let error = decrypt(&env, &wrong, &message).await.unwrap_err();
            assert!(matches!(error, CryptoError::ContextMismatch), "{error}");
        }
    }
}

/// Proves: CRY-1, TEN-4
#[tokio::test]
async fn kms_refuses_a_data_key_under_a_rewritten_context() {
    let h = harness();
    let env = envelope(h, 4096).await;
    let acme = org(h, "acme");
    let plain = bytes(7, 10_000);
    let message = encrypt(&env, &EncryptionContext::attachment(&acme, "att-0001").unwrap(), &plain).await;
    // An attacker with bucket access rewrites the header to name another attachment (same
    // length) and asks for that one: our context check passes, but KMS refuses the data key,
    // whose wrapping is bound to the original context (and the header tag would fail next).
    let at = message
        .windows(8)
        .position(|w| w == b"att-0001")
        .expect("context in header");
    let mut forged = message.clone();
    forged[at..at + 8].copy_from_slice(b"att-0002");
    let target = EncryptionContext::attachment(&acme, "att-0002").unwrap();
    // KMS's refusal (InvalidCiphertextException) is the stored header failing authentication,
    // not an outage: a caller records it as an integrity failure rather than retrying.
    let error = decrypt(&env, &target, &forged).await.unwrap_err();
    assert!(matches!(error, CryptoError::Authentication), "{error}");
    // A corrupted wrapped data key is refused by KMS too.
    let context = EncryptionContext::attachment(&acme, "att-0001").unwrap();
    let arn = h.kms_key_arn().await;
    let edk_at = message
        .windows(arn.len())
        .position(|w| w == arn.as_bytes())
        .expect("provider info")
        + arn.len()
        + 2;
    let mut corrupted = message.clone();
    corrupted[edk_at + 5] ^= 1;
    assert!(decrypt(&env, &context, &corrupted).await.is_err());
    // Another KMS key cannot open it.
    let stranger = Envelope::new(
        h.kms(),
        "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    )
    .unwrap();
    let error = decrypt(&stranger, &context, &message).await.unwrap_err();
    assert!(matches!(error, CryptoError::NoUsableKey), "{error}");
}

struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("quire-crypto-{}", uuid_hex()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs scripts/esdk_interop.py with the project's virtualenv; Ok on exit status 0.
fn esdk(
    h: &Harness,
    mode: &str,
    arn: &str,
    context: &EncryptionContext,
    frame: u32,
    input: &Path,
    output: &Path,
) -> Result<(), String> {
    let root = quire_local::emulator::repo_root();
    let mut command = Command::new(root.join(".venv/bin/python"));
    command
        .arg(root.join("scripts/esdk_interop.py"))
        .arg(mode)
        .arg("--key-arn")
        .arg(arn)
        .arg("--frame-length")
        .arg(frame.to_string());
    for (key, value) in context.pairs() {
        command.arg("--context").arg(format!("{key}={value}"));
    }
    let out = command
        .arg(input)
        .arg(output)
        .env("AWS_ENDPOINT_URL", &h.emulator)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("python of the project virtualenv (make setup installs aws-encryption-sdk)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn interop_cases() -> Vec<(u32, usize)> {
    let mut cases: Vec<(u32, usize)> = sizes(4096).into_iter().map(|s| (4096, s)).collect();
    cases.push((DEFAULT_FRAME_LENGTH, 0));
    cases.push((DEFAULT_FRAME_LENGTH, 3 * DEFAULT_FRAME_LENGTH as usize + 17));
    cases
}

/// Proves: CRY-1, TEN-4
#[tokio::test]
async fn aws_encryption_sdk_decrypts_what_quire_encrypts() {
    let h = harness();
    let arn = h.kms_key_arn().await;
    let acme = org(h, "acme");
    let scratch = Scratch::new();
    for (i, (frame, size)) in interop_cases().into_iter().enumerate() {
        let env = envelope(h, frame).await;
        let context = EncryptionContext::attachment(&acme, &format!("q2p-{i}")).unwrap();
        let plain = bytes(100 + i as u64, size);
        let encrypted = scratch.path(&format!("q2p-{i}.enc"));
        let decrypted = scratch.path(&format!("q2p-{i}.out"));
        std::fs::write(&encrypted, encrypt(&env, &context, &plain).await).unwrap();
        esdk(h, "decrypt", &arn, &context, frame, &encrypted, &decrypted)
            .unwrap_or_else(|e| panic!("ESDK refused Quire's message (frame {frame}, size {size}): {e}"));
        assert_eq!(std::fs::read(&decrypted).unwrap(), plain, "frame {frame}, size {size}");
    }
    // The official SDK also refuses a tampered frame and a message of another object.
    let env = envelope(h, 4096).await;
    let context = EncryptionContext::attachment(&acme, "q2p-tamper").unwrap();
    let mut message = encrypt(&env, &context, &bytes(9, 9000)).await;
    let encrypted = scratch.path("q2p-tamper.enc");
    std::fs::write(&encrypted, &message).unwrap();
    let other = EncryptionContext::attachment(&acme, "q2p-other").unwrap();
    assert!(esdk(h, "decrypt", &arn, &other, 4096, &encrypted, &scratch.path("x")).is_err());
    let n = message.len();
    message[n - 30] ^= 1;
    std::fs::write(&encrypted, &message).unwrap();
    assert!(esdk(h, "decrypt", &arn, &context, 4096, &encrypted, &scratch.path("y")).is_err());
}

/// Proves: CRY-1, TEN-4
#[tokio::test]
async fn quire_decrypts_what_aws_encryption_sdk_encrypts() {
    let h = harness();
    let arn = h.kms_key_arn().await;
    let acme = org(h, "acme");
    let globex = org(h, "globex");
    let scratch = Scratch::new();
    for (i, (frame, size)) in interop_cases().into_iter().enumerate() {
        let env = envelope(h, frame).await;
        let context = EncryptionContext::attachment(&acme, &format!("p2q-{i}")).unwrap();
        let plain = bytes(200 + i as u64, size);
        let input = scratch.path(&format!("p2q-{i}.in"));
        let encrypted = scratch.path(&format!("p2q-{i}.enc"));
        std::fs::write(&input, &plain).unwrap();
        esdk(h, "encrypt", &arn, &context, frame, &input, &encrypted)
            .unwrap_or_else(|e| panic!("ESDK encrypt (frame {frame}, size {size}): {e}"));
        let message = std::fs::read(&encrypted).unwrap();
        assert_eq!(&message[..3], &[0x02, 0x04, 0x78], "ESDK wrote format v2, suite 0x0478");
        assert_eq!(
            decrypt(&env, &context, &message).await.unwrap(),
            plain,
            "frame {frame}, size {size}"
        );
        // Ranged decryption of the ESDK's message: every frame, one at a time.
        let mut source = Cursor::new(message.clone());
        let opened = env.open(&context, &mut source).await.unwrap();
        let layout = opened.layout(message.len() as u64).unwrap();
        let mut joined = Vec::new();
        for seq in 1..=layout.frame_count {
            opened
                .decrypt_frames(&mut source, seq..seq + 1, &mut joined)
                .await
                .unwrap();
        }
        assert_eq!(joined, plain, "ranged, frame {frame}, size {size}");
        // Another tenant's context, and a flipped byte, fail.
        let wrong = EncryptionContext::attachment(&globex, &format!("p2q-{i}")).unwrap();
        assert!(matches!(
            decrypt(&env, &wrong, &message).await,
            Err(CryptoError::ContextMismatch)
        ));
        let mut damaged = message.clone();
        let n = damaged.len();
        damaged[n - 1] ^= 0x10;
        assert!(decrypt(&env, &context, &damaged).await.is_err());
    }
}
