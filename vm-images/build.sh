#!/usr/bin/env bash
# Build the VM lab image from Debian packages only (see docs/decisions/0030-vm-lab.md).
#
#   vm-images/out/<recipe-hash>/vmlinuz      guest kernel (Debian linux-image-amd64, 6.1)
#   vm-images/out/<recipe-hash>/initrd.img   small initramfs (virtio + ext4 only)
#   vm-images/out/<recipe-hash>/base.qcow2   root filesystem (ext4), used read-only via overlays
#   vm-images/out/<recipe-hash>/build.json   kernel version, timings, whether the .deb cache was cold
#   vm-images/out/current -> <recipe-hash>
#
# Cached by the recipe hash (vm-images/recipe-hash.sh): nothing is rebuilt unless a file
# under vm-images/ changed. Needs root (debootstrap, chroot). Downloaded .debs are kept in
# vm-images/cache/ (the .debs, and the debootstrap result keyed by packages.txt), so a change
# to the overlay or customize() rebuilds in about 30 s. build.json "cache" says which was used:
# cold (nothing cached: the honest `make vm-image` time), debs, or rootfs.
# Environment: VM_MIRROR (default: first Debian URI in the machine's apt sources),
#              VM_ROOT_SIZE (default 8G, sparse).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$here/out"
cache="$here/cache"
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
  hash="$("$here/recipe-hash.sh")"
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
  pkgs="$(grep -v '^[[:space:]]*\(#\|$\)' "$here/packages.txt" | tr -s ' \n' ',' | sed 's/,$//')"
  stage1="$(printf '%s\n' "$STAGE1" "$suite" "$pkgs" | sha256sum | cut -c1-16)"
  local rootfs_tar="$cache/rootfs-$stage1.tar"
  mkdir -p "$root"
  if [ -f "$rootfs_tar" ]; then
    cache_state=rootfs
    log "debootstrap result cached ($stage1)"
    tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$rootfs_tar" -C "$root"
  else
    log "debootstrap $suite from $mirror (cache: $cache_state)"
    local t1; t1="$(now)"
    debootstrap --variant=minbase --include="$pkgs" --cache-dir="$cache/debs" \
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
  log "built $hash in ${build_s}s: kernel $kver, $(du -h "$dest/base.qcow2" | cut -f1) qcow2"
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
  chroot "$root" update-initramfs -u -k all >/dev/null 2>&1
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
}

main "$@"
