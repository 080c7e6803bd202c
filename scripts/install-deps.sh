#!/usr/bin/env bash
# Installs every Debian 12 package lorad needs to build, test and run.
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git
  libtorch-dev libopenblas0-pthread
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libpcre2-dev libutf8proc-dev
  libabsl-dev libgtest-dev libgmock-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  prometheus-cpp-dev libsqlite3-dev libsystemd-dev
  python3 python3-numpy python3-torch python3-yaml
  prometheus systemd
  nodejs npm
)
# Fuzzing (scripts/fuzz.sh) needs clang and the libFuzzer/sanitizer runtimes;
# only when asked, so the normal install stays lean.
if [[ "${LORAD_FUZZ:-0}" == "1" ]]; then
  PACKAGES+=(clang-14 libclang-rt-14-dev)
fi
if [[ "${LORAD_EXTRA_PACKAGES:-}" != "" ]]; then
  # shellcheck disable=SC2206
  PACKAGES+=(${LORAD_EXTRA_PACKAGES})
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node/npm may come from elsewhere (e.g. a preinstalled Node.js): accept them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
