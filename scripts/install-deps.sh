#!/usr/bin/env bash
# Installs exfilscan's build and test dependencies from Debian 12's packages (as root, or with
# sudo). Does nothing when everything is already there, so it is safe to run every time.
set -euo pipefail
packages=(g++ cmake make pkg-config libcli11-dev libsimdjson-dev libfmt-dev libspdlog-dev catch2
          libtomlplusplus-dev zlib1g-dev libisal-dev libzstd-dev gzip zstd python3
          librdkafka-dev kcat  # scan --kafka, and reading a topic back in its tests
          clang libclang-rt-14-dev)  # the last two for the fuzz targets (scripts/fuzz.sh)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
