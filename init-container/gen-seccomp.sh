#!/bin/sh
# Regenerate init-container/seccomp.json from a trace of the real `modelseal init`.
#
# Runs the init entrypoint under `strace -f -c` (same Node 24 binary and glibc as the image)
# through every path a pod can take (see seccomp/trace.workload.ts), unions the syscalls seen
# with the justified extras in seccomp/extra-syscalls.txt, removes the justified denials in
# seccomp/deny-syscalls.txt, and writes the allow-list profile.
# Needs: strace, docker-registry, skopeo, openssl (Debian packages) and `npm ci` done.
# Rerun after upgrading Node, the runtime base image, or anything that changes I/O paths,
# then run `npx vitest run test/init` to prove the pod still starts under it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"

for bin in strace docker-registry skopeo openssl; do
  command -v "$bin" >/dev/null || { echo "gen-seccomp: $bin is not installed (apt-get install strace docker-registry skopeo openssl)" >&2; exit 2; }
done

# Compile; a type error in an unrelated module must not stop the trace, a missing build must.
node_modules/.bin/tsc -p tsconfig.json >/dev/null || true
test -f dist/cli/main.js || { echo "gen-seccomp: build failed (dist/cli/main.js missing)" >&2; exit 1; }

out=$(mktemp -d /tmp/modelseal-seccomp-XXXXXX)
trap 'rm -rf "$out"' EXIT
MODELSEAL_TRACE_OUT="$out" npx vitest run --config init-container/seccomp/vitest.config.ts
node_modules/node/bin/node init-container/seccomp/build-profile.mjs "$out" init-container/seccomp/extra-syscalls.txt init-container/seccomp/deny-syscalls.txt > init-container/seccomp.json.tmp
mv init-container/seccomp.json.tmp init-container/seccomp.json
echo "wrote init-container/seccomp.json"
