#!/bin/sh
# Builds a busybox OCI image offline (Debian's busybox-static, umoci) and pushes it to a
# plain-HTTP registry, as tests/e2e/conftest.py does for the e2e tests.
#
#   build_busybox_image.sh WORKDIR REGISTRY_ADDR REPO:TAG
#
# e.g. build_busybox_image.sh /tmp/x 127.0.0.1:5000 library/busybox:latest
# With REGISTRY_ADDR "-" it writes the docker-archive WORKDIR/image.tar (tagged REPO:TAG)
# instead of pushing, for `ImageStore::Load`.
# The image's Cmd is ["/bin/sh"]; its Entrypoint is empty.
set -eu
if [ $# -ne 3 ]; then
  echo "usage: $0 WORKDIR REGISTRY_ADDR REPO:TAG" >&2
  exit 2
fi
work=$1 addr=$2 repo=$3
layout="$work/oci"
bundle="$work/bundle"
rm -rf "$layout" "$bundle"
mkdir -p "$work"
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --image "$layout:latest" "$bundle"
rootfs="$bundle/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root" "$rootfs/www"
cp /bin/busybox "$rootfs/bin/busybox"
for a in sh httpd nc wget ls cat echo sleep ping ip hostname id touch grep head true false \
         kill seq date printf env pwd timeout; do
  ln -sf busybox "$rootfs/bin/$a"
done
echo "hello from kecs" > "$rootfs/www/index.html"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
umoci repack --image "$layout:latest" "$bundle"
umoci config --image "$layout:latest" --config.cmd /bin/sh
if [ "$addr" = "-" ]; then
  skopeo --insecure-policy copy --quiet "oci:$layout:latest" "docker-archive:$work/image.tar:$repo"
  exit 0
fi
# The registry may take a moment to accept pushes after it starts listening.
i=0
until skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$layout:latest" \
      "docker://$addr/$repo"; do
  i=$((i + 1))
  if [ $i -ge 10 ]; then
    echo "push to $addr failed" >&2
    exit 1
  fi
  sleep 0.5
done
