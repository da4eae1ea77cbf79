#!/usr/bin/env bash
# Fetches Debian's kernel package (downloaded, never installed), extracts the uncompressed
# vmlinux the way the kernel's scripts/extract-vmlinux does, and generates modules.dep with
# busybox depmod. Everything lands in CACHE (argument 1); a complete cache is reused.
#   CACHE/vmlinux            uncompressed kernel (boots twice as fast as the xz one under TCG)
#   CACHE/root/lib/modules/V the package's modules with modules.dep
#   CACHE/release            V (the kernel release, e.g. 6.1.0-56-amd64)
# Needs: apt-get (with package lists), dpkg-deb, xz, busybox (busybox-static).
set -euo pipefail
cache=$1
mkdir -p "$cache"
cd "$cache"
# One preparation at a time (tests run in parallel); the others wait and reuse it.
exec 9>lock
flock 9
if [ -s release ] && [ -s vmlinux ] && [ -s "root/lib/modules/$(cat release)/modules.dep" ]; then
  exit 0
fi
for tool in apt-get apt-cache dpkg-deb xz busybox; do
  command -v "$tool" >/dev/null || { echo "prepare-kernel: $tool missing (package: ${tool/busybox/busybox-static})" >&2; exit 1; }
done
# linux-image-amd64 is a metapackage: its dependency is the real kernel package.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
  # A fresh machine may have no package lists yet.
  apt-get update -qq >/dev/null 2>&1 || true
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
if [ -z "$pkg" ]; then
  echo "prepare-kernel: apt-cache knows no linux-image-amd64 dependency (run apt-get update)" >&2
  exit 1
fi
rm -rf root deb && mkdir deb
# Stale package lists name a kernel the mirror no longer has: refresh them once.
(cd deb && apt-get download -q "$pkg" >/dev/null 2>&1) || {
  apt-get update -qq >/dev/null 2>&1 || true
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  (cd deb && apt-get download "$pkg")
}
dpkg-deb -x deb/*.deb root
release=$(ls root/lib/modules | head -n 1)
# extract-vmlinux: find the compressed payload's magic in the bzImage and unpack from there.
vmlinuz=root/boot/vmlinuz-$release
rm -f vmlinux.tmp
for off in $(grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1); do
  tail -c +$((off + 1)) "$vmlinuz" | xz -dc > vmlinux.tmp 2>/dev/null || true
  if [ "$(head -c 4 vmlinux.tmp | od -An -c | tr -d ' ')" = '177ELF' ]; then break; fi
  rm -f vmlinux.tmp
done
[ -s vmlinux.tmp ] || { echo "prepare-kernel: no xz payload found in $vmlinuz" >&2; exit 1; }
busybox depmod -b root "$release"
mv vmlinux.tmp vmlinux
rm -rf deb root/boot/vmlinuz-*
echo "$release" > release
