#!/usr/bin/env bash
# Debian packages the tests and `npm run bench` use: a real OCI registry, skopeo, OpenStack Swift
# (s3api), podman; kubectl; awscli, curl and time for the bench baselines; python3-numpy so the scanner
# tests can show numpy.load really runs the payloads the scanner must refuse; softhsm2 and opensc
# (pkcs11-tool) for PKCS#11 signing (`sign pkcs11-key|pkcs11-certificate` drive tokens through it).
# moto_server comes with the machine's Python. Safe to run again.
set -euo pipefail
PKGS=(docker-registry skopeo python3-swift python3-numpy openssl podman runc catatonit busybox-static memcached awscli curl strace time softhsm2 opensc)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
# kubectl (webhook tests build Pods and Deployments with --dry-run=client, kustomize the manifests).
# Debian's kubernetes-client conflicts with a kubectl package already installed: only when absent.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The package's own service listens on :5000 on all interfaces; tests run their own on loopback.
systemctl disable --now docker-registry >/dev/null 2>&1 || true
