#!/usr/bin/env bash
# Pins the Dockerfile's base images (ARG BUILD_IMAGE / NODE_IMAGE) to the digest their tag names today, so a
# build uses exactly the image that was reviewed and a re-pushed tag cannot change it unseen. Run it to take
# a new Node 20 or Debian patch release, then review and commit the diff:
#   scripts/pin-base-images.sh [Dockerfile]
# Needs skopeo (Debian: apt-get install skopeo) and access to the registry. The digest is that of the
# manifest list, so every architecture the tag covers still builds.
set -euo pipefail

DOCKERFILE=${1:-Dockerfile}
command -v skopeo >/dev/null || { echo "pin-base-images: needs skopeo (apt-get install skopeo)" >&2; exit 2; }

pinned=0
while IFS= read -r line; do
  name=${line%%=*}
  ref=${line#*=}
  tag=${ref%@*}
  # The digest of the exact bytes the registry serves for the tag (the manifest list, for multi-arch tags).
  digest=sha256:$(skopeo inspect --raw "docker://$tag" | sha256sum | cut -d' ' -f1)
  if [ "$ref" != "$tag@$digest" ]; then
    sed -i "s|^$name=.*|$name=$tag@$digest|" "$DOCKERFILE"
    echo "${name#ARG }: $tag@$digest" >&2
  fi
  pinned=$((pinned + 1))
done < <(grep -E '^ARG (BUILD_IMAGE|NODE_IMAGE)=' "$DOCKERFILE")

[ "$pinned" -gt 0 ] || { echo "pin-base-images: no ARG BUILD_IMAGE= or NODE_IMAGE= line in $DOCKERFILE" >&2; exit 2; }
