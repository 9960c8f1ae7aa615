#!/usr/bin/env bash
# Envelope encryption, Quire (quire_crypto) against the official Python AWS Encryption SDK, in
# the same run on the same input files: suite 0x0478, 64 KiB frames, file to file, streaming.
#
#   scripts/bench-envelope.sh [SIZE_MiB ...]        (default: 1 64 1024)
#   REPS=3 FRAME=65536 CORE=1 WORK=/tmp/quire-bench-envelope CARGO_TARGET_DIR=... scripts/bench-envelope.sh
#   (NO_BUILD=1: use the example binary already built in $CARGO_TARGET_DIR/release/examples)
#
# * Quire: shared/crypto/examples/envelope_bench.rs (release build, single-threaded tokio runtime).
#   Python: scripts/bench_envelope_peer.py (the project's .venv, aws-encryption-sdk).
# * raw = KMS excluded: the data key is wrapped by a raw AES-256-GCM key (ESDK raw AES format on
#   both sides). kms = KMS included: GenerateDataKey/Decrypt against the local emulator
#   (infra/local/moto_server.py on loopback, pinned to the other core).
# * Each measured process is pinned to one core (taskset -c $CORE, default 1) and run under
#   /usr/bin/time -v: wall time and peak RSS of the whole process. GB/s = 10^9 bytes of
#   plaintext per second of the program's own timing of the stream (no process start-up,
#   imports, or KMS client set-up; KMS calls included in `kms`); the median of REPS runs.
# * Every decryption is compared with the input; cross checks: Python decrypts Quire's output
#   and Quire decrypts Python's (raw and kms, 64 MiB or the first size given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=$ROOT/.venv/bin/python
PEER=$ROOT/scripts/bench_envelope_peer.py
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
REPS=${REPS:-3}
FRAME=${FRAME:-65536}
CORE=${CORE:-1}
WORK=${WORK:-/tmp/quire-bench-envelope}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1 64 1024)

[ -x "$PY" ] || { echo "no $PY: create the project's .venv first" >&2; exit 1; }
"$PY" -c 'import aws_encryption_sdk, boto3' || { echo "aws-encryption-sdk/boto3 missing in .venv" >&2; exit 1; }
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (/usr/bin/time)" >&2
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi
PIN=()
OTHER=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt "$CORE" ]; then
    PIN=(taskset -c "$CORE")
    [ "$(nproc)" -gt 1 ] && OTHER=(taskset -c "$([ "$CORE" = 0 ] && echo 1 || echo 0)")
fi

BIN=$TARGET_DIR/release/examples/envelope_bench
if [ "${NO_BUILD:-0}" != 1 ]; then
    echo "== building shared/crypto/examples/envelope_bench.rs (release)" >&2
    (cd "$ROOT" && cargo build --release -p quire-crypto --example envelope_bench) >&2
fi

mkdir -p "$WORK"
RESULTS=$WORK/results.tsv
: > "$RESULTS"
for size in "${SIZES[@]}"; do
    input=$WORK/in-$size.bin
    if [ "$(stat -c %s "$input" 2>/dev/null || echo 0)" != $((size << 20)) ]; then
        echo "== generating $input ($size MiB of random bytes)" >&2
        head -c $((size << 20)) /dev/urandom > "$input"
    fi
done

export QUIRE_BENCH_RAW_KEY
QUIRE_BENCH_RAW_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# The local KMS emulator.
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== starting the KMS emulator on port $PORT" >&2
"${OTHER[@]}" "$PY" "$ROOT/infra/local/moto_server.py" --port "$PORT" > "$WORK/moto.log" 2>&1 &
MOTO=$!
trap 'kill "$MOTO" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1 && break
    sleep 0.2
done
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
QUIRE_BENCH_KEY_ARN=$("$PY" -c 'import boto3; print(boto3.client("kms").create_key(Description="quire envelope bench")["KeyMetadata"]["Arn"])')
export QUIRE_BENCH_KEY_ARN
echo "== KMS key $QUIRE_BENCH_KEY_ARN" >&2

# measure IMPL OP KEY SIZE IN OUT: one timed, pinned run; appends a line to $RESULTS.
measure() {
    local impl=$1 op=$2 key=$3 size=$4 in=$5 out=$6 cmd json
    if [ "$impl" = quire ]; then cmd=("$BIN"); else cmd=("$PY" "$PEER"); fi
    json=$(/usr/bin/time -v -o "$WORK/time.txt" "${PIN[@]}" "${cmd[@]}" "$op" "$key" "$FRAME" "$in" "$out") || {
        echo "FAILED: $impl $op $key $size MiB" >&2
        cat "$WORK/time.txt" >&2
        exit 1
    }
    local seconds wall rss init
    seconds=$(sed -n 's/.*"seconds": *\([0-9.e-]*\).*/\1/p' <<<"$json")
    init=$(sed -n 's/.*"rng_init_seconds": *\([0-9.e-]*\).*/\1/p' <<<"$json")
    wall=$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$WORK/time.txt")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$op" "$key" "$size" "$seconds" "$wall" "$rss" "${init:-0}" >> "$RESULTS"
    printf '  %-6s %-7s %-3s %5s MiB  %9.4f s  wall %s  RSS %s KiB\n' "$impl" "$op" "$key" "$size" "$seconds" "$wall" "$rss" >&2
}

same() {
    cmp -s "$1" "$2" || { echo "MISMATCH: $2 differs from $1" >&2; exit 1; }
}

CROSS=${SIZES[0]}
for size in "${SIZES[@]}"; do [ "$size" = 64 ] && CROSS=64; done

for size in "${SIZES[@]}"; do
    input=$WORK/in-$size.bin
    for key in raw kms; do
        echo "== $size MiB, key $key" >&2
        for rep in $(seq "$REPS"); do
            for impl in quire python; do
                measure "$impl" encrypt "$key" "$size" "$input" "$WORK/$impl.enc"
            done
            for impl in quire python; do
                measure "$impl" decrypt "$key" "$size" "$WORK/$impl.enc" "$WORK/$impl.dec"
                if [ "$rep" = 1 ]; then same "$input" "$WORK/$impl.dec"; fi
                rm -f "$WORK/$impl.dec"
            done
        done
        if [ "$size" = "$CROSS" ]; then
            echo "== cross check ($size MiB, $key): Python decrypts Quire's output, Quire decrypts Python's" >&2
            "$PY" "$PEER" decrypt "$key" "$FRAME" "$WORK/quire.enc" "$WORK/cross.dec" >/dev/null
            same "$input" "$WORK/cross.dec"
            "$BIN" decrypt "$key" "$FRAME" "$WORK/python.enc" "$WORK/cross.dec" >/dev/null
            same "$input" "$WORK/cross.dec"
            rm -f "$WORK/cross.dec"
            echo "   ok" >&2
        fi
        rm -f "$WORK/quire.enc" "$WORK/python.enc"
    done
done

echo >&2
"$PY" - "$RESULTS" "$FRAME" <<'EOF'
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
inits = []
for line in open(sys.argv[1]):
    impl, op, key, size, seconds, wall, rss, init = line.rstrip("\n").split("\t")
    runs[(int(size), key, op, impl)].append((float(seconds), wall, int(rss)))
    if impl == "quire":
        inits.append(float(init) * 1000)

def fig(size, key, op, impl):
    rows = runs[(size, key, op, impl)]
    gbs = sorted(size * 2**20 / s / 1e9 for s, _, _ in rows)
    walls = [w for _, w, _ in rows]
    rss = max(r for _, _, r in rows) / 1024
    return statistics.median(gbs), gbs[0], gbs[-1], walls, rss

print(f"frame length {sys.argv[2]} B, suite 0x0478, median of {len(next(iter(runs.values())))} runs "
      "(GB/s = 1e9 B/s of plaintext, range in brackets); RSS = peak of the process, MiB")
print()
print("| size | KMS | op | Quire GB/s | Python GB/s | Quire/Python | Quire RSS | Python RSS | Quire wall | Python wall |")
print("|---|---|---|---|---|---|---|---|---|---|")
for size, key, op in sorted({k[:3] for k in runs}, key=lambda k: (k[0], k[1] == "kms", k[2] == "decrypt")):
    q = fig(size, key, op, "quire")
    p = fig(size, key, op, "python")
    label = f"{size} MiB" if size < 1024 else f"{size // 1024} GiB"
    kms = "included" if key == "kms" else "excluded"
    print(f"| {label} | {kms} | {op} | {q[0]:.2f} ({q[1]:.2f}–{q[2]:.2f}) | {p[0]:.2f} ({p[1]:.2f}–{p[2]:.2f}) "
          f"| {q[0] / p[0]:.1f}× | {q[4]:.1f} | {p[4]:.1f} | {q[3][len(q[3]) // 2]} | {p[3][len(p[3]) // 2]} |")
print()
print(f"Quire's first random draw per process (aws-lc generator start-up; in the wall time, not in GB/s): "
      f"{min(inits):.0f}–{max(inits):.0f} ms")
EOF
echo >&2
echo "raw results: $RESULTS" >&2
