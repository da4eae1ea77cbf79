#!/usr/bin/env bash
# Builds an initramfs (uncompressed newc cpio) for the IPVS guest:
#   busybox (busybox-static) as every tool, the kernel modules IPVS needs with a
#   modules.dep of their own, ipvsadm with its libraries, and each extra file given as
#   HOST=GUEST (ELF executables bring the shared libraries ldd lists, and ld.so).
# Usage: build-initramfs.sh CACHE OUT.cpio INIT [HOST=GUEST ...]
#   CACHE: prepared by prepare-kernel.sh; INIT: the guest's /init script.
set -euo pipefail
cache=$1 out=$2 init=$3
shift 3
release=$(cat "$cache/release")
moddir="$cache/root/lib/modules/$release"
stage="$out.d"
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules/"$release"}
command -v busybox >/dev/null || { echo "build-initramfs: busybox missing (package busybox-static)" >&2; exit 1; }
cp "$(command -v busybox)" "$stage/bin/busybox"

copy_elf() { # HOST GUEST: the file and the shared libraries it needs
  local host=$1 guest=$2
  mkdir -p "$stage$(dirname "$guest")"
  cp -L "$host" "$stage$guest"
  ldd "$host" 2>/dev/null | awk '/=> \// {print $3} /^[[:space:]]*\/.*ld-linux/ {print $1}' | while read -r lib; do
    [ -e "$stage$lib" ] && continue
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done
}

# Modules: the closure of what IPVS, its schedulers and the tunnels need (and the bridge of
# ka-daemon's forwarding test), from modules.dep.
want="crc32c_generic ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh
ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh ip_vs_twos ip_vs_pe_sip ip_vs_ftp nf_conntrack
ipip ip_gre ip6_tunnel fou fou6 veth dummy bridge"
declare -A keep=()
add_mod() { # relative path from modules.dep
  local rel=$1
  [ -n "${keep[$rel]:-}" ] && return
  keep[$rel]=1
  local deps
  deps=$(grep -m1 "^$rel:" "$moddir/modules.dep" | cut -d: -f2)
  for d in $deps; do add_mod "$d"; done
}
for m in $want; do
  rel=$(grep -m1 -E "/$m\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | cut -d: -f1 || true)
  [ -n "$rel" ] && add_mod "$rel"
done
: > "$stage/lib/modules/$release/modules.dep"
for rel in "${!keep[@]}"; do
  mkdir -p "$stage/lib/modules/$release/$(dirname "$rel")"
  cp "$moddir/$rel" "$stage/lib/modules/$release/$rel"
  grep -m1 "^$rel:" "$moddir/modules.dep" >> "$stage/lib/modules/$release/modules.dep"
done
cp "$moddir/modules.builtin" "$stage/lib/modules/$release/" 2>/dev/null || true

command -v ipvsadm >/dev/null || { echo "build-initramfs: ipvsadm missing (package ipvsadm)" >&2; exit 1; }
copy_elf "$(command -v ipvsadm)" /sbin/ipvsadm

for pair in "$@"; do
  host=${pair%%=*} guest=${pair#*=}
  if head -c 4 "$host" | grep -q 'ELF'; then
    copy_elf "$host" "$guest"
  else
    mkdir -p "$stage$(dirname "$guest")"
    cp -rL "$host" "$stage$guest"
  fi
done

cp "$init" "$stage/init"
chmod +x "$stage/init"
(cd "$stage" && find . -print0 | busybox cpio -o -H newc -0 2>/dev/null) > "$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$stage"
