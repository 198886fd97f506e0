#!/usr/bin/env bash
# Builds a local stand-in for the Node 20 images where no image registry is reachable: a debootstrap of
# Debian bookworm (minbase) plus this machine's Node 20, its headers and npm, committed to buildah's local
# storage. "slim" stands in for node:20-bookworm-slim, "build" for node:20-bookworm (adds the compiler
# toolchain node-gyp needs for better-sqlite3). Prints the image name on stdout. Both the rootfs and the
# image are cached, keyed by a hash of every input (this script, the variant, the mirror, the node binary,
# the npm version), so only the first run is slow.
# Usage: .ci/base-image.sh slim|build   (root; needs debootstrap and buildah — see .ci/install-packages.sh)
set -euo pipefail

VARIANT=${1:-slim}
case "$VARIANT" in
  slim) INCLUDE=() ;;
  build) INCLUDE=(--include=python3,make,g++) ;;
  *) echo "base-image: variant is slim or build, not $VARIANT" >&2; exit 2 ;;
esac

CACHE=${MAILPROBE_TEST_CACHE:-/var/cache/mailprobe-test}
SUITE=bookworm
NODE_BIN=$(readlink -f "$(command -v node)")
NPM_DIR=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/..")
NODE_HEADERS=$(readlink -f "$(dirname "$NODE_BIN")/../include/node")

# The mirror apt itself uses (deb822 or one-line sources), so this works wherever apt works.
mirror() {
  local uri
  uri=$(grep -h -o -E '^URIs: *[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}' || true)
  if [ -z "$uri" ]; then
    uri=$(grep -h -E '^deb +[^ ]+/debian/? +bookworm' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 | awk '{print $2}' || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

MIRROR=$(mirror)
NODE_VERSION=$("$NODE_BIN" --version)
case "$NODE_VERSION" in v20.*) ;; *) echo "base-image: node is $NODE_VERSION; the image needs Node 20" >&2; exit 2 ;; esac
KEY=$( { sha256sum "$0" "$NODE_BIN" | cut -d' ' -f1; echo "$VARIANT $MIRROR $SUITE"; cat "$NPM_DIR/package.json"; } | sha256sum | cut -c1-16)
IMAGE=localhost/mailprobe-node-$VARIANT:$KEY
ROOTFS=$CACHE/rootfs-$KEY

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

if buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi

if [ ! -e "$ROOTFS/.complete" ]; then
  rm -rf "$ROOTFS" "$ROOTFS.tmp"
  echo "base-image: debootstrap $SUITE from $MIRROR (first run only)" >&2
  debootstrap --variant=minbase "${INCLUDE[@]}" "$SUITE" "$ROOTFS.tmp" "$MIRROR" >"$CACHE/debootstrap-$KEY.log" 2>&1 || {
    echo "base-image: debootstrap failed; see $CACHE/debootstrap-$KEY.log" >&2
    exit 1
  }
  # Like the slim image: no apt lists, caches or docs, which only make every layer bigger.
  rm -rf "$ROOTFS.tmp"/var/lib/apt/lists/* "$ROOTFS.tmp"/var/cache/apt/*.bin "$ROOTFS.tmp"/var/cache/apt/archives/*.deb \
    "$ROOTFS.tmp"/usr/share/doc/* "$ROOTFS.tmp"/usr/share/man/* "$ROOTFS.tmp"/usr/share/locale/*
  # node:20 images place Node under /usr/local and ship a "node" user (uid 1000).
  install -D -m 755 "$NODE_BIN" "$ROOTFS.tmp/usr/local/bin/node"
  mkdir -p "$ROOTFS.tmp/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$ROOTFS.tmp/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS.tmp/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS.tmp/usr/local/bin/npx"
  # Where the official images keep them, so node-gyp (npm_config_nodedir=/usr/local) compiles offline.
  mkdir -p "$ROOTFS.tmp/usr/local/include"
  cp -a "$NODE_HEADERS" "$ROOTFS.tmp/usr/local/include/node"
  chroot "$ROOTFS.tmp" /usr/sbin/groupadd --gid 1000 node
  chroot "$ROOTFS.tmp" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$ROOTFS.tmp" /usr/local/bin/node --version >/dev/null
  touch "$ROOTFS.tmp/.complete"
  mv "$ROOTFS.tmp" "$ROOTFS"
fi

container=$(buildah from scratch)
trap 'buildah rm "$container" >/dev/null 2>&1 || true' EXIT
mount=$(buildah mount "$container")
tar -C "$ROOTFS" --exclude=./.complete -cf - . | tar -C "$mount" -xf -
buildah umount "$container" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env NODE_VERSION="${NODE_VERSION#v}" \
  --cmd node --label org.opencontainers.image.description="local stand-in for the node:20 bookworm images ($VARIANT)" "$container"
buildah commit --quiet "$container" "$IMAGE" >/dev/null
echo "$IMAGE"
