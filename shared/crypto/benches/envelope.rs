//! Envelope encryption throughput (target: ≥ 3 GB/s per core at 64 KiB frames), KMS excluded:
//! the data key is wrapped by a raw AES-256 key (`quire_crypto::RawAesEnvelope`, the same
//! engine as `Envelope`, ESDK raw AES keyring format), in memory, on a current-thread runtime.
//!
//! `encrypt/1MiB`, `encrypt/64MiB`, `decrypt/1MiB`, `decrypt/64MiB`, 64 KiB frames, reported by
//! criterion as bytes of plaintext per second. Each iteration is one whole message (header,
//! data-key wrap or unwrap, HKDF, every frame). File-to-file figures against the Python AWS
//! Encryption SDK, and with KMS included: `scripts/bench-envelope.sh`.
//!
//! `cargo bench -p quire-crypto --bench envelope -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, Throughput};
use quire_core::ids::OrgId;
use quire_crypto::{EncryptionContext, RawAesEnvelope, DEFAULT_FRAME_LENGTH};
use std::hint::black_box;

const SIZES: [(&str, usize); 2] = [("1MiB", 1 << 20), ("64MiB", 64 << 20)];

/// Deterministic filler (xorshift64*): AES-GCM does not care, but no all-zero pages.
fn input(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let envelope = RawAesEnvelope::new("quire-bench", "bench-key", &[0x42; 32])
        .and_then(|e| e.with_frame_length(DEFAULT_FRAME_LENGTH))
        .expect("envelope");
    let org = OrgId::parse("bench-org").expect("org");
    let context = EncryptionContext::attachment(&org, "bench-object").expect("context");

    for (op, decrypting) in [("encrypt", false), ("decrypt", true)] {
        let mut group = c.benchmark_group(op);
        group.sample_size(10);
        for (name, len) in SIZES {
            let plaintext = input(len);
            let mut sealed = Vec::with_capacity(len + len / 1000 + 4096);
            runtime
                .block_on(envelope.encrypt(&context, &mut plaintext.as_slice(), &mut sealed))
                .expect("encrypt");
            let (source, capacity) = if decrypting {
                (sealed, len)
            } else {
                (plaintext, sealed.len())
            };
            let mut out = Vec::with_capacity(capacity);
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_function(name, |b| {
                b.iter(|| {
                    out.clear();
                    let mut reader = black_box(source.as_slice());
                    if decrypting {
                        runtime
                            .block_on(envelope.decrypt(&context, &mut reader, &mut out))
                            .expect("decrypt");
                    } else {
                        runtime
                            .block_on(envelope.encrypt(&context, &mut reader, &mut out))
                            .expect("encrypt");
                    }
                    black_box(out.len())
                })
            });
        }
        group.finish();
    }
}

criterion::criterion_group!(envelope, benches);
criterion::criterion_main!(envelope);
