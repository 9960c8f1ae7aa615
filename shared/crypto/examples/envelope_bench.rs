//! File-to-file envelope encryption or decryption with `quire_crypto`, timed, for
//! `scripts/bench-envelope.sh` (side by side with the Python AWS Encryption SDK).
//!
//! ```text
//! envelope_bench encrypt|decrypt raw|kms FRAME_LENGTH IN OUT
//! ```
//!
//! * `raw`: KMS excluded. The data key is wrapped by a raw AES-256 key (ESDK raw AES keyring
//!   format, namespace `quire-bench`, name `bench-key`) read as 64 hex digits from
//!   `QUIRE_BENCH_RAW_KEY`.
//! * `kms`: KMS included. `GenerateDataKey` / `Decrypt` under `QUIRE_BENCH_KEY_ARN`, through the
//!   SDK's standard configuration (`AWS_ENDPOINT_URL` for the local emulator).
//!
//! Single-threaded tokio runtime; the files are read and written with blocking calls inside
//! the task (no blocking thread pool), through 256 KiB buffers, so everything runs on one thread.
//! Prints one JSON line on stdout: `{"op":..,"bytes":..,"seconds":..}`, where `seconds` covers
//! the encryption or decryption call (KMS client set-up excluded, KMS calls included in `kms`);
//! `rng_init_seconds` is the one-off first random draw of the process, made before the timer.
//! The encryption context is `{orgId: bench-org, attachmentId: bench-object}`.

use quire_core::ids::OrgId;
use quire_crypto::{EncryptionContext, Envelope, RawAesEnvelope};
use std::io::{BufReader, BufWriter, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const BUFFER: usize = 256 * 1024;

/// Blocking std I/O exposed as tokio I/O (always ready): no thread pool, one thread.
struct Blocking<T>(T);

impl<T: Read + Unpin> AsyncRead for Blocking<T> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let n = self.0.read(buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: Write + Unpin> AsyncWrite for Blocking<T> {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.0.write(buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.flush())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.flush())
    }
}

enum Engine {
    Raw(RawAesEnvelope),
    Kms(Envelope),
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("envelope_bench: {message}");
    std::process::exit(2)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(format!("{name} is not set")))
}

async fn engine(mode: &str, frame_length: u32) -> Engine {
    match mode {
        "raw" => {
            let key = hex::decode(env("QUIRE_BENCH_RAW_KEY")).unwrap_or_else(|e| fail(e));
            let raw = RawAesEnvelope::new("quire-bench", "bench-key", &key)
                .and_then(|e| e.with_frame_length(frame_length))
                .unwrap_or_else(|e| fail(e));
            Engine::Raw(raw)
        }
        "kms" => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
            let kms = aws_sdk_kms::Client::new(&config);
            let envelope = Envelope::new(kms, env("QUIRE_BENCH_KEY_ARN"))
                .and_then(|e| e.with_frame_length(frame_length))
                .unwrap_or_else(|e| fail(e));
            Engine::Kms(envelope)
        }
        other => fail(format!("key mode must be raw or kms, not {other}")),
    }
}

async fn run(args: &[String]) {
    let [op, mode, frame_length, input, output] = args else {
        fail("usage: envelope_bench encrypt|decrypt raw|kms FRAME_LENGTH IN OUT");
    };
    let frame_length: u32 = frame_length.parse().unwrap_or_else(|e| fail(e));
    let org = OrgId::parse("bench-org").unwrap_or_else(|e| fail(e));
    let context = EncryptionContext::attachment(&org, "bench-object").unwrap_or_else(|e| fail(e));
    let engine = engine(mode, frame_length).await;
    let source = std::fs::File::open(input).unwrap_or_else(|e| fail(format!("{input}: {e}")));
    let sink = std::fs::File::create(output).unwrap_or_else(|e| fail(format!("{output}: {e}")));
    let mut reader = Blocking(BufReader::with_capacity(BUFFER, source));
    let mut writer = Blocking(BufWriter::with_capacity(BUFFER, sink));

    // The first random draw of a process initialises aws-lc's generator (~80 ms on the
    // benchmark machine): a one-off per process (per Lambda cold start), reported apart.
    let init = Instant::now();
    aws_lc_rs::rand::fill(&mut [0u8; 16]).unwrap_or_else(|_| fail("random generator"));
    let rng_init = init.elapsed().as_secs_f64();

    let start = Instant::now();
    let bytes = match (op.as_str(), &engine) {
        ("encrypt", Engine::Raw(e)) => e
            .encrypt(&context, &mut reader, &mut writer)
            .await
            .map(|s| s.plaintext_len),
        ("encrypt", Engine::Kms(e)) => e
            .encrypt(&context, &mut reader, &mut writer)
            .await
            .map(|s| s.plaintext_len),
        ("decrypt", Engine::Raw(e)) => e.decrypt(&context, &mut reader, &mut writer).await,
        ("decrypt", Engine::Kms(e)) => e.decrypt(&context, &mut reader, &mut writer).await,
        (other, _) => fail(format!("operation must be encrypt or decrypt, not {other}")),
    }
    .unwrap_or_else(|e| fail(e));
    let seconds = start.elapsed().as_secs_f64();
    println!(
        r#"{{"impl":"quire","op":"{op}","key":"{mode}","bytes":{bytes},"seconds":{seconds:.6},"rng_init_seconds":{rng_init:.6}}}"#
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e));
    runtime.block_on(run(&args));
}
