#!/usr/bin/env python3
"""The Python side of scripts/bench-envelope.sh: file-to-file encryption or decryption with the
official `aws-encryption-sdk` (the project's .venv), streaming API, timed.

    bench_envelope_peer.py encrypt|decrypt raw|kms FRAME_LENGTH IN OUT

Suite 0x0478 (AES_256_GCM_HKDF_SHA512_COMMIT_KEY), commitment policy
REQUIRE_ENCRYPT_REQUIRE_DECRYPT, encryption context {orgId: bench-org, attachmentId: bench-object}
(checked on decryption), the same as shared/crypto/examples/envelope_bench.rs.

* raw: KMS excluded. `RawMasterKey` (provider id `quire-bench`, key id `bench-key`), AES-256-GCM
  wrapping key read as 64 hex digits from QUIRE_BENCH_RAW_KEY (the ESDK raw AES format that
  quire_crypto::RawAesEnvelope also writes, so either side decrypts the other's output).
* kms: KMS included. `StrictAwsKmsMasterKeyProvider` for QUIRE_BENCH_KEY_ARN; KMS is reached
  through boto's standard configuration (AWS_ENDPOINT_URL for the local emulator).

Prints one JSON line: {"impl": "python", "op", "key", "bytes", "seconds"}, where `seconds`
covers the stream (open, read to the end, write) and not the interpreter start-up and imports.
"""
import json
import os
import sys
import time

CHUNK = 1 << 20  # bytes asked of the stream per read
CONTEXT = {"orgId": "bench-org", "attachmentId": "bench-object"}


def main():
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    op, mode, frame_length, path_in, path_out = sys.argv[1:]
    frame_length = int(frame_length)

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")

    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm

    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    if mode == "raw":
        from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
        from aws_encryption_sdk.key_providers.raw import RawMasterKey

        provider = RawMasterKey(
            provider_id="quire-bench",
            key_id=b"bench-key",
            wrapping_key=WrappingKey(
                wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
                wrapping_key=bytes.fromhex(os.environ["QUIRE_BENCH_RAW_KEY"]),
                wrapping_key_type=EncryptionKeyType.SYMMETRIC,
            ),
        )
    elif mode == "kms":
        import botocore.session

        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[os.environ["QUIRE_BENCH_KEY_ARN"]], botocore_session=botocore.session.Session()
        )
    else:
        raise SystemExit(f"key mode must be raw or kms, not {mode!r}")

    start = time.perf_counter()
    total = 0
    with open(path_in, "rb") as source, open(path_out, "wb") as sink:
        if op == "encrypt":
            stream = client.stream(
                mode="e",
                source=source,
                key_provider=provider,
                encryption_context=CONTEXT,
                algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
                frame_length=frame_length,
            )
        elif op == "decrypt":
            stream = client.stream(mode="d", source=source, key_provider=provider)
        else:
            raise SystemExit(f"operation must be encrypt or decrypt, not {op!r}")
        with stream:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                sink.write(chunk)
                if op == "decrypt":
                    total += len(chunk)
            header = stream.header
        if op == "encrypt":
            total = source.tell()
    seconds = time.perf_counter() - start
    if header.algorithm != Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY:
        raise SystemExit(f"unexpected algorithm suite {header.algorithm}")
    if dict(header.encryption_context) != CONTEXT:
        raise SystemExit(f"encryption context mismatch: {dict(header.encryption_context)}")
    print(json.dumps({"impl": "python", "op": op, "key": mode, "bytes": total, "seconds": round(seconds, 6)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
