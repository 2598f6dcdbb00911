#!/bin/sh
# Builds the runtime image `tandem:local` from a release binary on this machine, with no registry:
# an empty image, the binary, the shared libraries it links (glibc, libgcc) and CA certificates
# from this host, a non-root user, a /data volume and a health check. The Containerfile builds the
# same from source where registries are reachable.
#
#   deploy/container/assemble.sh [target/release/tandem]
set -eu
# Docker's image format: OCI images have no HEALTHCHECK.
export BUILDAH_FORMAT=docker
bin=${1:-target/release/tandem}
[ -x "$bin" ] || { echo "no binary at $bin: run make build-release" >&2; exit 1; }
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
root=$(buildah mount "$ctr")
mkdir -p "$root/usr/local/bin" "$root/data" "$root/etc/ssl" "$root/tmp"
cp "$bin" "$root/usr/local/bin/tandem"
strip "$root/usr/local/bin/tandem" 2>/dev/null || true
# The dynamic loader and every library the binary links, at the same paths.
for lib in $(ldd "$bin" | awk '/=>/ { print $3 } /^\t\/.*ld-linux/ { print $1 }'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# HTTPS to S3, webhooks and an OpenID provider needs the CA roots.
cp -rL /etc/ssl/certs "$root/etc/ssl/certs"
echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > "$root/etc/passwd"
echo 'nonroot:x:65532:' > "$root/etc/group"
chown 65532:65532 "$root/data"
chmod 1777 "$root/tmp"
buildah umount "$ctr" >/dev/null
buildah config \
  --env TANDEM_LISTEN=0.0.0.0:8080 --env TANDEM_DATA_DIR=/data --env TANDEM_LOG_FORMAT=json \
  --user 65532:65532 --port 8080 --volume /data --workingdir /data \
  --entrypoint '["/usr/local/bin/tandem"]' --cmd '' \
  --healthcheck 'CMD /usr/local/bin/tandem health' \
  --healthcheck-interval 10s --healthcheck-timeout 4s --healthcheck-start-period 10s \
  --label org.opencontainers.image.title=tandem \
  "$ctr"
buildah commit --quiet --format docker "$ctr" tandem:local
