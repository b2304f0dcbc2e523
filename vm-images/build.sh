#!/usr/bin/env bash
# Build the VM lab image from Debian packages only (see docs/decisions/0030-vm-lab.md and, for
# arm64, docs/decisions/0190-arm64-vm-lab.md).
#
#   vm-images/build.sh [amd64|arm64]         (default amd64; or VM_ARCH=arm64)
#
#   <out>/<recipe-hash>/vmlinuz      guest kernel (Debian linux-image-<arch>, 6.1)
#   <out>/<recipe-hash>/initrd.img   small initramfs (virtio + ext4 only)
#   <out>/<recipe-hash>/base.qcow2   root filesystem (ext4), used read-only via overlays
#   <out>/<recipe-hash>/build.json   arch, kernel version, timings, whether the .deb cache was cold
#   <out>/current -> <recipe-hash>
# where <out> is vm-images/out for amd64 and vm-images/out/<arch> for any other arch (and the
# caches vm-images/cache and vm-images/cache/<arch>), so the amd64 layout is the one it always was.
#
# Cached by the recipe hash (vm-images/recipe-hash.sh <arch>): nothing is rebuilt unless a file
# under vm-images/ changed. Needs root (debootstrap, chroot). Downloaded .debs are kept in the
# cache dir (the .debs, and the debootstrap result keyed by packages.txt), so a change
# to the overlay or customize() rebuilds in about 30 s. build.json "cache" says which was used:
# cold (nothing cached: the honest `make vm-image` time), debs, or rootfs.
#
# A foreign arch (arm64 on an x86_64 build machine) is debootstrapped with Debian's arm64
# packages; every arm64 program the build runs (debootstrap's second stage, maintainer scripts,
# systemctl, update-initramfs) runs under qemu-user (qemu-aarch64-static, apt qemu-user-static)
# through a binfmt_misc entry that this script registers for the build only and removes after.
# Environment: VM_MIRROR (default: first Debian URI in the machine's apt sources),
#              VM_ROOT_SIZE (default 8G, sparse), VM_ARCH (amd64 | arm64).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
arch="${1:-${VM_ARCH:-amd64}}"
case "$arch" in
  amd64) out="$here/out"; cache="$here/cache" ;;
  arm64) out="$here/out/$arch"; cache="$here/cache/$arch" ;;
  *) echo "vm-image: unsupported arch '$arch' (use amd64 or arm64)" >&2; exit 2 ;;
esac
suite=bookworm
# Bump when the debootstrap step itself changes (invalidates vm-images/cache/rootfs-*.tar).
STAGE1=1

log() { echo "vm-image: $*" >&2; }

find_mirror() {
  if [ -n "${VM_MIRROR:-}" ]; then echo "$VM_MIRROR"; return; fi
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: the first URIs line whose stanza is not the security archive.
    m="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
      /etc/apt/sources.list)"
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

main() {
  local hash dest
  hash="$("$here/recipe-hash.sh" "$arch")"
  dest="$out/$hash"
  mkdir -p "$out" "$cache/debs"
  # One build at a time (make test-e2e and make bench may race).
  exec 9>"$out/.lock"
  flock 9
  if [ -f "$dest/build.json" ]; then
    ln -sfn "$hash" "$out/current"
    log "up to date ($hash)"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (debootstrap and chroot need it); try: sudo make vm-image"
    exit 2
  fi
  local t0 cache_state=cold
  t0="$(now)"
  compgen -G "$cache/debs/*.deb" >/dev/null && cache_state=debs

  local tmp
  tmp="$(mktemp -d "$cache/build.XXXXXX")"
  # shellcheck disable=SC2064
  trap "cleanup '$tmp'" EXIT
  local root="$tmp/rootfs"

  # Stage 1 (slow: download, unpack, configure): debootstrap. Its result is cached by the hash of
  # packages.txt and STAGE1 below, so changing only the overlay or customize() takes seconds.
  local mirror pkgs stage1 debootstrap_s=0
  mirror="$(find_mirror)"
  # @ARCH@ in packages.txt is the Debian arch (linux-image-@ARCH@).
  pkgs="$(grep -v '^[[:space:]]*\(#\|$\)' "$here/packages.txt" | sed "s/@ARCH@/$arch/g" | tr -s ' \n' ',' | sed 's/,$//')"
  stage1="$(printf '%s\n' "$STAGE1" "$suite" "$pkgs" | sha256sum | cut -c1-16)"
  foreign_arch_setup
  local rootfs_tar="$cache/rootfs-$stage1.tar"
  mkdir -p "$root"
  if [ -f "$rootfs_tar" ]; then
    cache_state=rootfs
    log "debootstrap result cached ($stage1)"
    tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$rootfs_tar" -C "$root"
  else
    log "debootstrap $suite $arch from $mirror (cache: $cache_state)"
    local t1; t1="$(now)"
    # Under qemu-user the kernel package's own initramfs (MODULES=most: one emulated modprobe per
    # module) takes over an hour; customize() builds the lab's small one anyway (INITRD=No is the
    # switch Debian's /etc/kernel/postinst.d/initramfs-tools honours).
    local initrd_env=()
    [ -z "$FOREIGN" ] || initrd_env=(INITRD=No)
    env "${initrd_env[@]}" debootstrap --arch="$arch" --variant=minbase --include="$pkgs" --cache-dir="$cache/debs" \
      "$suite" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
      tail -n 30 "$tmp/debootstrap.log" >&2
      log "debootstrap failed (full log above: last 30 lines)"
      exit 1
    }
    debootstrap_s="$(elapsed "$t1")"
    log "debootstrap done in ${debootstrap_s}s"
    rm -f "$cache"/rootfs-*.tar
    tar --xattrs --xattrs-include='*' --numeric-owner -cf "$rootfs_tar.tmp" -C "$root" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  fi

  customize "$root"

  local kver
  kver="$(basename "$(ls -d "$root"/lib/modules/*)")"
  mkdir -p "$tmp/out"
  cp "$root/boot/vmlinuz-$kver" "$tmp/out/vmlinuz"
  cp "$root/boot/initrd.img-$kver" "$tmp/out/initrd.img"

  log "mkfs.ext4 -d (no loop device, no mount)"
  truncate -s "${VM_ROOT_SIZE:-8G}" "$tmp/root.img"
  mkfs.ext4 -q -F -L lab-root -d "$root" "$tmp/root.img"
  qemu-img convert -O qcow2 "$tmp/root.img" "$tmp/out/base.qcow2"
  rm -f "$tmp/root.img"

  local build_s; build_s="$(elapsed "$t0")"
  cat >"$tmp/out/build.json" <<JSON
{
  "recipe_hash": "$hash",
  "arch": "$arch",
  "suite": "$suite",
  "kernel": "$kver",
  "mirror": "$mirror",
  "build_s": $build_s,
  "debootstrap_s": $debootstrap_s,
  "cache": "$cache_state",
  "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
  rm -rf "$dest"
  mv "$tmp/out" "$dest"
  ln -sfn "$hash" "$out/current"
  # Drop images built from older recipes.
  local d
  for d in "$out"/*/; do
    d="${d%/}"
    [ -L "$d" ] && continue
    case "$(basename "$d")" in "$hash" | artifacts) ;; *) [ -f "$d/build.json" ] && rm -rf "$d" ;; esac
  done
  log "built $arch $hash in ${build_s}s: kernel $kver, $(du -h "$dest/base.qcow2" | cut -f1) qcow2"
}

# A foreign arch needs the kernel to run its programs through qemu-user: a binfmt_misc entry for
# aarch64 ELF files. An existing enabled one (e.g. Debian's qemu-aarch64 from binfmt-support) is
# used as is; otherwise this build registers its own, with the F flag (the kernel opens
# qemu-aarch64-static now, so the chroot needs no copy of it) and removes it on exit.
BINFMT_DIR=/proc/sys/fs/binfmt_misc
BINFMT_NAME=""
FOREIGN=""
foreign_arch_setup() {
  [ "$arch" != "$(dpkg --print-architecture)" ] || return 0
  FOREIGN=1
  [ "$arch" = arm64 ] || { log "no qemu-user recipe for $arch"; exit 2; }
  local qemu=/usr/bin/qemu-aarch64-static
  [ -x "$qemu" ] || { log "$qemu is missing (apt-get install qemu-user-static; make apt-deps does)"; exit 2; }
  if [ ! -e "$BINFMT_DIR/register" ]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" 2>/dev/null || {
      log "binfmt_misc is not available ($BINFMT_DIR cannot be mounted): arm64 programs cannot run in the chroot"
      exit 2
    }
  fi
  local e
  for e in "$BINFMT_DIR"/*; do
    case "$(basename "$e")" in register | status) continue ;; esac
    if grep -qx enabled "$e" 2>/dev/null && grep -q '^magic 7f454c460201010000000000000000000200b700' "$e"; then
      log "using the binfmt_misc entry $(basename "$e") for arm64 programs"
      return 0
    fi
  done
  BINFMT_NAME="edge-lab-aarch64-$$"
  # name:type:offset:magic:mask:interpreter:flags (Linux Documentation/admin-guide/binfmt-misc.rst;
  # magic and mask as in Debian's /usr/share/binfmts/qemu-aarch64).
  printf '%s' ":$BINFMT_NAME:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:$qemu:F" \
    >"$BINFMT_DIR/register"
  log "registered binfmt_misc entry $BINFMT_NAME -> $qemu for this build"
}

# Everything the lab needs inside the guest, done offline on the unpacked root.
customize() {
  local root="$1"
  # Lab files: guest agent, units, fstab, initramfs and journald settings.
  cp -r --no-preserve=ownership "$here/overlay/." "$root/"
  chmod 0755 "$root/usr/local/lib/lab/"*

  # Only what the lab boots need: the serial console is a log, not a login.
  local u
  # Every unit costs seconds under TCG; none of these exist on purpose for edge-initd.
  # containerd and docker-registry are there for the registries e2e, which starts them itself.
  for u in serial-getty@ttyS0.service getty@tty1.service getty.target console-getty.service \
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
    e2scrub_reap.service fstrim.timer systemd-pstore.service nvmf-autoconnect.service \
    systemd-logind.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
    modprobe@drm.service modprobe@fuse.service sys-kernel-debug.mount sys-kernel-tracing.mount \
    containerd.service docker-registry.service; do
    ln -sfn /dev/null "$root/etc/systemd/system/$u"
  done
  chroot "$root" systemctl enable lab-agent.service lab-net.service >/dev/null 2>&1
  # Generators for things the lab has none of (gettys, GPT auto-mounts, SysV scripts, LUKS,
  # hibernation): each is an exec at every boot and daemon-reload.
  mkdir -p "$root/etc/systemd/system-generators"
  for u in systemd-getty-generator systemd-gpt-auto-generator systemd-sysv-generator \
    systemd-rc-local-generator systemd-hibernate-resume-generator systemd-bless-boot-generator \
    systemd-cryptsetup-generator systemd-veritysetup-generator systemd-integritysetup-generator \
    systemd-system-update-generator systemd-debug-generator; do
    ln -sfn /dev/null "$root/etc/systemd/system-generators/$u"
  done

  # Smaller module tree: no sound, graphics, wireless, media, infiniband (nothing the lab emulates).
  local kdir
  kdir="$(ls -d "$root"/lib/modules/*)"
  rm -rf "$kdir/kernel/sound" "$kdir/kernel/drivers/gpu" "$kdir/kernel/drivers/media" \
    "$kdir/kernel/drivers/net/wireless" "$kdir/kernel/drivers/infiniband" \
    "$kdir/kernel/drivers/staging" "$kdir/kernel/drivers/bluetooth" "$kdir/kernel/net/bluetooth" \
    "$kdir/kernel/net/wireless" "$kdir/kernel/net/mac80211" "$kdir/kernel/drivers/iio" \
    "$kdir/kernel/drivers/isdn" "$kdir/kernel/drivers/net/can" "$kdir/kernel/drivers/usb"
  chroot "$root" depmod -a "$(basename "$kdir")"

  # Regenerate the initramfs with the lab's settings (MODULES=list: virtio + ext4 only).
  mount -t proc proc "$root/proc"
  local mode=-u
  [ -e "$root/boot/initrd.img-$(basename "$kdir")" ] || mode=-c # a foreign build skipped the first one
  chroot "$root" update-initramfs "$mode" -k "$(basename "$kdir")" >/dev/null 2>&1
  umount "$root/proc"

  # Each VM gets its own machine id from the kernel command line (systemd.machine_id=).
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  ln -sfn /etc/machine-id "$root/var/lib/dbus/machine-id"
  mkdir -p "$root/var/log/journal" "$root/mnt/lab"

  # No docs, man pages, locales or apt lists in the image.
  rm -rf "$root"/usr/share/{doc,man,info,locale}/* "$root"/var/lib/apt/lists/* \
    "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
}

cleanup() {
  local tmp="$1" m
  for m in proc sys dev/pts dev; do
    mountpoint -q "$tmp/rootfs/$m" 2>/dev/null && umount -l "$tmp/rootfs/$m" || true
  done
  rm -rf --one-file-system "$tmp"
  if [ -n "$BINFMT_NAME" ] && [ -e "$BINFMT_DIR/$BINFMT_NAME" ]; then
    echo -1 >"$BINFMT_DIR/$BINFMT_NAME" || true
  fi
}

main "$@"
