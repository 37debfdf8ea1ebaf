#!/usr/bin/env bash
# Builds a tiny web-server image offline (Debian's busybox-static httpd serving "hello from
# kecs") with umoci and skopeo, and loads it into kecs's image store as demo/httpd:latest.
# Usage: scripts/demo-image.sh [DATA_DIR]   (default: $KECS_DATA_DIR or ~/.kecs)
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir=${1:-${KECS_DATA_DIR:-$HOME/.kecs}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:latest" >/dev/null
umoci unpack --image "$work/oci:latest" "$work/bundle" >/dev/null
root="$work/bundle/rootfs"
mkdir -p "$root/bin" "$root/www" "$root/etc" "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for a in sh httpd wget ls cat echo sleep hostname id ip nslookup ping; do ln -s busybox "$root/bin/$a"; done
echo "hello from kecs" > "$root/www/index.html"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$root/etc/passwd"
umoci repack --image "$work/oci:latest" "$work/bundle" >/dev/null
umoci config --image "$work/oci:latest" --config.cmd /bin/httpd --config.cmd -f \
  --config.cmd -p --config.cmd 80 --config.cmd -h --config.cmd /www >/dev/null
skopeo --insecure-policy copy --quiet "oci:$work/oci:latest" "docker-archive:$work/image.tar:demo/httpd:latest"
./build/src/daemon/kecs image load "$work/image.tar" --data-dir "$data_dir"
