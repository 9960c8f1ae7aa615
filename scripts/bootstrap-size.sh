#!/usr/bin/env bash
# Release `bootstrap` size of every Lambda function (target: each ≤ 6 MB).
#
#   bash scripts/bootstrap-size.sh            # arm64 via cargo-lambda when available, else native
#   QUIRE_SIZE_MODE=native bash scripts/...   # force a native `cargo build --release`
#
# cargo-lambda (with zig for cross-linking) is found on PATH or in a throwaway venv:
#   python3 -m venv /tmp/lambda-venv && /tmp/lambda-venv/bin/pip install cargo-lambda ziglang
#   rustup target add aarch64-unknown-linux-gnu
# Without it the script falls back to a native build and says so: that figure is for the host
# architecture (usually x86_64), not for the arm64 binaries Lambda runs.
#
# Release profile (workspace Cargo.toml): lto = true, codegen-units = 1, opt-level = "s",
# strip = true, panic = "abort". With LTO a full build takes many minutes on 2 cores.
set -euo pipefail

cd "$(dirname "$0")/.."

# binary name  package
FUNCTIONS=(
    "health quire-fn-health"
    "auth quire-fn-auth"
    "registration quire-fn-registration"
    "organisation quire-fn-organisation"
    "members quire-fn-members"
    "operator quire-fn-operator"
    "documents quire-fn-documents"
    "attachments quire-fn-attachments"
    "attachment-ingest quire-fn-attachment-ingest"
    "audit quire-fn-audit"
    "audit-writer quire-fn-audit-writer"
    "audit-verifier quire-fn-audit-verifier"
)
LIMIT_BYTES=$((6 * 1000 * 1000)) # 6 MB, decimal: the stricter reading of the target
VENV="${LAMBDA_VENV:-/tmp/lambda-venv}"
MODE="${QUIRE_SIZE_MODE:-auto}"

if [[ -x "$VENV/bin/cargo-lambda" ]]; then
    PATH="$VENV/bin:$PATH"
fi

packages=()
for f in "${FUNCTIONS[@]}"; do
    packages+=(-p "${f#* }")
done

build_arm64() {
    cargo lambda build --release --arm64 "${packages[@]}"
}

build_native() {
    cargo build --release --bins "${packages[@]}"
}

if [[ "$MODE" == auto ]]; then
    if cargo lambda --version >/dev/null 2>&1; then
        MODE=arm64
    else
        echo "cargo-lambda not found: falling back to a native build" >&2
        MODE=native
    fi
fi

if [[ "$MODE" == arm64 ]]; then
    if ! build_arm64; then
        echo "cargo lambda build failed: falling back to a native build" >&2
        MODE=native
    fi
fi
if [[ "$MODE" == native ]]; then
    build_native
fi

path_of() {
    if [[ "$MODE" == arm64 ]]; then
        echo "target/lambda/$1/bootstrap"
    else
        echo "target/release/$1"
    fi
}

if [[ "$MODE" == arm64 ]]; then
    arch="aarch64-unknown-linux-gnu (cargo lambda build --release --arm64)"
else
    arch="$(rustc -vV | sed -n 's/^host: //p') (native cargo build --release; NOT the arm64 Lambda binary)"
fi
echo
echo "bootstrap sizes, $arch"
printf '%-14s %12s %9s %14s  %s\n' function bytes MiB "zip -9 bytes" "≤ 6 MB"
status=0
for f in "${FUNCTIONS[@]}"; do
    bin="${f%% *}"
    file="$(path_of "$bin")"
    if [[ ! -f "$file" ]]; then
        printf '%-14s %12s\n' "$bin" "missing: $file"
        status=1
        continue
    fi
    bytes=$(stat -c %s "$file")
    mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
    # What Lambda stores: the bootstrap in a zip (deflate -9).
    tmpzip="$(mktemp -u /tmp/bootstrap-size.XXXXXX).zip"
    (cd "$(dirname "$file")" && zip -q -9 "$tmpzip" "$(basename "$file")")
    zipped=$(stat -c %s "$tmpzip")
    rm -f "$tmpzip"
    if ((bytes <= LIMIT_BYTES)); then verdict=met; else verdict=OVER; fi
    printf '%-14s %12d %9s %14d  %s\n' "$bin" "$bytes" "$mib" "$zipped" "$verdict"
done
exit "$status"
