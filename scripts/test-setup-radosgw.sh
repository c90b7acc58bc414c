#!/usr/bin/env bash
# Ceph's S3 gateway for `make test-radosgw` (tests/radosgw.py starts a one-node cluster of its own in a
# temp dir: a monitor, an OSD on memstore and radosgw, all on loopback ports). Not part of
# scripts/test-setup.sh: the default suite runs on moto and does not pay for these packages (~25 s).
set -euo pipefail
need=()
for bin in radosgw:radosgw ceph-mon:ceph-mon ceph-osd:ceph-osd ceph:ceph-common; do
  command -v "${bin%%:*}" >/dev/null 2>&1 || need+=("${bin##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test-setup-radosgw: please install ${need[*]} (apt-get install ${need[*]}); the radosgw tests will be skipped" >&2
  fi
fi
