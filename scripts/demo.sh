#!/usr/bin/env bash
# The README's demo: sign the bundled tiny model, verify it, place it read-only, then show
# that a tampered byte and an unsigned extra file are refused with their documented exit codes.
set -euo pipefail
cd "$(dirname "$0")/.."
# The repo pins Node 24 (npm `node` package); use it even when this script is run outside npm.
NODE=node; [ -x node_modules/.bin/node ] && NODE=node_modules/.bin/node
ms() { "$NODE" bin/modelseal "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
export MODELSEAL_LOG_LEVEL=${MODELSEAL_LOG_LEVEL:-warn}
export COSIGN_PASSWORD=${COSIGN_PASSWORD:-demo-password}

work=$(mktemp -d "${TMPDIR:-/tmp}/modelseal-demo-XXXXXX")
cp -r examples/tiny-model "$work/tiny-model"
echo "working in $work"

step "1. generate a cosign-compatible encrypted key pair"
ms generate-key-pair --output-key-prefix "$work/demo"

step "2. the model's OMS root digest"
ms digest "$work/tiny-model"

step "3. sign it (writes tiny-model/model.sig, an OMS v1.0 Sigstore bundle)"
ms sign key "$work/tiny-model" --private-key "$work/demo.key"

step "4. verify it offline"
ms verify key "$work/tiny-model" --public-key "$work/demo.pub"

step "5. pull it through the verifying pipeline into a read-only directory, with a receipt"
ms pull "$work/tiny-model" --into "$work/served/tiny-model" --public-key "$work/demo.pub"
ls -l "$work/served/tiny-model"

step "6. tamper with one byte of the weights: verification must fail (exit 4)"
cp -r "$work/tiny-model" "$work/tampered"
printf '\x01' | dd of="$work/tampered/model.safetensors" bs=1 seek=100 conv=notrunc status=none
set +e
ms verify key "$work/tampered" --public-key "$work/demo.pub"; rc=$?
set -e
echo "exit code: $rc"
[ "$rc" -eq 4 ] || { echo "expected exit 4 (digest mismatch)"; exit 1; }

step "7. add an unsigned file: verification must fail (exit 5)"
cp -r "$work/tiny-model" "$work/extra"
echo 'print("surprise")' > "$work/extra/backdoor.py"
set +e
ms verify key "$work/extra" --public-key "$work/demo.pub"; rc=$?
set -e
echo "exit code: $rc"
[ "$rc" -eq 5 ] || { echo "expected exit 5 (unsigned file)"; exit 1; }

step "demo complete: signed, verified, placed read-only; tampering and unsigned files refused"
