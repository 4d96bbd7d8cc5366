#!/usr/bin/env bash
# Installs the Debian 12 packages exaone.cpp needs to build, test and benchmark.
# Run as root (or with sudo). Skips apt when everything is already present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git python3
      nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libpcre2-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      clang libclang-rt-14-dev
      libopenmpi-dev openmpi-bin  # data-parallel `exaone train` under mpirun (optional: the build works without)
      python3-venv python3-dev  # python3-dev: headers for the exaone_comply package (python/)
      chromium chromium-driver)  # chromium: headless tests of the comply report and the web chat page (skipped when absent)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
