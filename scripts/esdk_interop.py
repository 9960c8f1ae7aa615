#!/usr/bin/env python3
"""Encrypts or decrypts a file with AWS's official Python `aws-encryption-sdk`, the way a
customer would, to prove Quire's envelope format (docs/envelope-format.md) interoperates.

    python scripts/esdk_interop.py encrypt --key-arn ARN --context orgId=acme \
        --context attachmentId=a1 [--frame-length 65536] IN OUT
    python scripts/esdk_interop.py decrypt --key-arn ARN --context orgId=acme \
        --context attachmentId=a1 IN OUT

Encrypts with commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT and algorithm suite 0x0478
(AES_256_GCM_HKDF_SHA512_COMMIT_KEY, no signature). Decrypts with a strict KMS key provider
(only data keys wrapped by ARN) and then requires the message's encryption context to equal the
given pairs exactly; OUT is written only when everything verified (exit status 1 otherwise).

KMS is reached through boto's standard configuration: AWS_ENDPOINT_URL points it at the local
emulator; region and credentials default to us-east-1 and dummy values when not set.
Installed by infra/local/requirements-interop.txt into the project's .venv.
"""
import argparse
import os
import sys


def parse_context(pairs):
    context = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--context wants KEY=VALUE, got {pair!r}")
        if key in context:
            raise SystemExit(f"--context key {key!r} given twice")
        context[key] = value
    return context


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["encrypt", "decrypt"])
    parser.add_argument("--key-arn", required=True)
    parser.add_argument("--context", action="append", metavar="KEY=VALUE")
    parser.add_argument("--frame-length", type=int, default=65536)
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args()
    context = parse_context(args.context)

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")

    import aws_encryption_sdk
    import botocore.session
    from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[args.key_arn], botocore_session=botocore.session.Session()
    )
    partial = args.output + ".partial"
    try:
        with open(args.input, "rb") as source, open(partial, "wb") as sink:
            if args.mode == "encrypt":
                with client.stream(
                    mode="e",
                    source=source,
                    key_provider=provider,
                    encryption_context=context,
                    algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
                    frame_length=args.frame_length,
                ) as encryptor:
                    for chunk in encryptor:
                        sink.write(chunk)
            else:
                with client.stream(mode="d", source=source, key_provider=provider) as decryptor:
                    for chunk in decryptor:
                        sink.write(chunk)
                    header = decryptor.header
                if header.algorithm != Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY:
                    raise ValueError(f"unexpected algorithm suite {header.algorithm}")
                if dict(header.encryption_context) != context:
                    raise ValueError(f"encryption context mismatch: {dict(header.encryption_context)}")
        os.replace(partial, args.output)
    except Exception as error:  # noqa: BLE001 - any failure is a refusal, reported once
        if os.path.exists(partial):
            os.remove(partial)
        print(f"esdk_interop {args.mode} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
