#!/usr/bin/env bash
# Build a Python base image from Debian packages, for machines that cannot pull
# python:X.Y-slim from a registry (offline CI, a proxy that blocks Docker Hub).
#
#   sudo scripts/build-local-base-image.sh [IMAGE_NAME]
#   export PYTHON_IMAGE=IMAGE_NAME        # the generated tests pass it to docker build
#
# The image is Debian trixie (minbase) with Debian's python3 (3.13) and venv, so
# it stands in for python:3.13-slim. Its name says what it is, so nobody mistakes
# it for the official image. Needs root, debootstrap and a reachable Debian mirror.
set -euo pipefail

image="${1:-local/debian-trixie-python3:3.13}"
suite="trixie"
# The host's CA bundle goes into the image: pip inside `docker build` may reach
# PyPI through a TLS-intercepting proxy that only the host trusts.
host_ca_bundle="/etc/ssl/certs/ca-certificates.crt"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image already present"
  exit 0
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrap $suite into $rootfs (a few minutes)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$suite" "$rootfs" >"$rootfs.log" 2>&1 || { tail -n 40 "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

if [ -f "$host_ca_bundle" ]; then
  cp "$host_ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
# The official images put python on PATH as `python`; Debian names it python3.
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
# Package lists and caches are not needed at run time.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin

tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$image" >/dev/null
echo "built $image"
