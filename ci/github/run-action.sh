#!/usr/bin/env bash
# The modelseal GitHub Action's one step: turn the action inputs (passed as environment variables,
# never spliced into this script, so an input cannot inject shell) into one modelseal command line.
# Keyless signing needs no token input: modelseal asks the job's OIDC endpoint itself
# (ACTIONS_ID_TOKEN_REQUEST_URL, present when the job has `permissions: id-token: write`).
set -euo pipefail

modelseal="${GITHUB_ACTION_PATH:?}/bin/modelseal"
fail() {
  echo "::error title=modelseal::$1"
  exit 2
}

args=()
# Who may have signed: a policy file, or a keyless identity pinned with its issuer.
trust_args() {
  if [[ -n "${INPUT_POLICY:-}" ]]; then
    args+=(--policy "$INPUT_POLICY")
  elif [[ -n "${INPUT_IDENTITY:-}" || -n "${INPUT_IDENTITY_REGEXP:-}" ]]; then
    [[ -n "${INPUT_ISSUER:-}" ]] || fail "identity pins need the issuer input too"
    if [[ -n "${INPUT_IDENTITY:-}" ]]; then args+=(--identity "$INPUT_IDENTITY"); else args+=(--identity-regexp "$INPUT_IDENTITY_REGEXP"); fi
    args+=(--identity-provider "$INPUT_ISSUER")
  else
    fail "${INPUT_COMMAND} needs the policy input, or identity/identity-regexp with issuer"
  fi
  [[ -z "${INPUT_TRUST_ROOT:-}" ]] || args+=(--trust-root "$INPUT_TRUST_ROOT")
}
signer_args() {
  case "${INPUT_SIGN_METHOD:-sigstore}" in
    sigstore) ;;
    key | certificate)
      [[ -n "${INPUT_PRIVATE_KEY:-}" ]] || fail "sign-method ${INPUT_SIGN_METHOD} needs the private-key input"
      args+=(--private-key "$INPUT_PRIVATE_KEY")
      ;;
    *) fail "sign-method must be sigstore, key or certificate" ;;
  esac
}
registry_args() {
  # The password travels in MODELSEAL_REGISTRY_PASSWORD (set by action.yml), never on the command line.
  [[ -z "${INPUT_REGISTRY_USERNAME:-}" || -z "${MODELSEAL_REGISTRY_PASSWORD:-}" ]] || args+=(--registry-username "$INPUT_REGISTRY_USERNAME")
}
need() {
  [[ -n "${!1:-}" ]] || fail "${INPUT_COMMAND} needs the $2 input"
}

case "${INPUT_COMMAND:-}" in
  sign)
    need INPUT_MODEL model
    args=(sign "${INPUT_SIGN_METHOD:-sigstore}" "$INPUT_MODEL")
    signer_args
    ;;
  publish)
    need INPUT_MODEL model
    need INPUT_REFERENCE reference
    args=(publish "$INPUT_MODEL" "$INPUT_REFERENCE" --sign "${INPUT_SIGN_METHOD:-sigstore}")
    signer_args
    case "${INPUT_SBOM:-false}" in
      false | '') ;;
      true) args+=(--sbom) ;;
      *) args+=(--sbom "$INPUT_SBOM") ;;
    esac
    [[ "${INPUT_COSIGN:-false}" != true ]] || args+=(--cosign)
    registry_args
    ;;
  verify)
    need INPUT_MODEL model
    if [[ -n "${INPUT_POLICY:-}" ]]; then args=(verify policy "$INPUT_MODEL"); else args=(verify sigstore "$INPUT_MODEL"); fi
    trust_args
    ;;
  pull)
    need INPUT_REFERENCE reference
    need INPUT_INTO into
    args=(pull "$INPUT_REFERENCE" --into "$INPUT_INTO")
    trust_args
    [[ "${INPUT_REQUIRE_SBOM:-false}" != true ]] || args+=(--require-sbom)
    registry_args
    ;;
  *) fail "command must be sign, publish, verify or pull (got '${INPUT_COMMAND:-}')" ;;
esac

# Extra arguments: one per line, so values with spaces survive.
while IFS= read -r line; do
  [[ -z "$line" ]] || args+=("$line")
done <<<"${INPUT_ARGS:-}"
args+=(--json)

echo "modelseal ${args[*]}"
status=0
result="$("$modelseal" "${args[@]}")" || status=$?
echo "$result"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  delimiter="modelseal_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  {
    echo "result<<$delimiter"
    echo "$result"
    echo "$delimiter"
    echo "exit-code=$status"
    # publish answers with the pushed manifest digest; pull with the resolved one.
    printf 'digest=%s\n' "$(node -e 'try { const r = JSON.parse(process.argv[1]); process.stdout.write(String(r.digest ?? r.resolvedDigest ?? "")); } catch {}' "$result")"
  } >>"$GITHUB_OUTPUT"
fi
exit "$status"
