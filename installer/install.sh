#!/usr/bin/env bash
# castai-edge-initd installer.
#
#   curl -fsSL "<api>/v1beta/organizations/<org>/clusters/<cluster>/edge-locations/<loc>:edgeInitdScript" \
#     -H "X-API-Key: <key>" | sudo INITD_EXTRA_ENV_FILE=/path/edge.env bash
#
# The control plane serves this file with its placeholders filled in. Everything
# lives inside main(), so a truncated download executes nothing, and a JSON error
# body piped into bash fails at once without side effects.
#
# What it does (and nothing else):
#   /usr/local/bin/castai-edge-initd                 the agent (sha256 verified before it is executable)
#   /etc/systemd/system/castai-edge-initd.service    its unit, enabled and started
#   /etc/castai-edge-initd/castai-edge-initd.env     the unit's environment (0600: it holds the bootstrap token)
#   /usr/local/bin/castai-edge-initd-uninstall.sh    removes exactly the files listed in
#   /var/lib/castai-edge-initd/installed-files       (this manifest)
#   /var/lib/castai-edge-initd/init_script           a copy of this script (0600)
# A re-run restarts the agent only when the binary, unit or environment changed.

installer_unit_file() {
  cat <<'UNIT'
[Unit]
Description=CAST AI edge node agent (castai-edge-initd)
# Documentation=: none until the project has a public home (docs/decisions/0185-unit-documentation.md); on the node: castai-edge-initd --help
Wants=network-online.target
After=network-online.target time-sync.target

[Service]
Type=notify
# The agent reports READY and STATUS= through systemd-notify --pid=<main pid>.
NotifyAccess=all
EnvironmentFile=-/etc/castai-edge-initd/castai-edge-initd.env
# At most two glibc malloc arenas for the daemon's ~11 threads (glibc allows 8 per core):
# ~3 MiB less idle RSS, measured in the VM lab (docs/decisions/0102-idle-memory.md). Children
# the agent runs do not inherit it (they get a minimal environment).
Environment=MALLOC_ARENA_MAX=2
ExecStart=/usr/local/bin/castai-edge-initd run
Restart=always
RestartSec=5
# READY=1 is sent after the first full reconcile pass (joined, or failed with a
# message); until then `systemctl status` shows progress on the Status: line.
TimeoutStartSec=30min
# SIGTERM: the agent finishes the action it is in and exits within 10 s.
TimeoutStopSec=15
KillMode=mixed
UMask=0077

# Hardening that fits a root agent which manages disks (LVM, mkfs, mount units), the network (ip,
# wg, wireguard-go on /dev/net/tun), systemd units and k0s, and reads /proc/self/mountinfo as the
# host sees it: no private mount namespace and no device list (docs/decisions/0151-unit-hardening.md
# says what was left out and why). Children the agent runs itself (k0s install/reset, mkfs, lvm,
# wg, nvidia-smi) inherit all of it; k0sworker and wireguard-go run in their own units and do not.
NoNewPrivileges=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictRealtime=yes
SystemCallArchitectures=native
# Syscall groups nothing the agent or its children uses: setting the clock, x86 CPU emulation,
# ptrace and perf, obsolete calls, reboot/kexec (a MIG reboot goes through `systemctl reboot`,
# i.e. PID 1), swapon/swapoff. Denied with EPERM, not a kill. (Not ProtectClock=: it adds a device
# rule for /dev/rtc; see 0151.)
SystemCallFilter=~@clock @cpu-emulation @debug @obsolete @reboot @swap
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=~CAP_SYS_TIME CAP_WAKE_ALARM CAP_SYS_BOOT CAP_SYS_PACCT CAP_SYS_TTY_CONFIG CAP_BLOCK_SUSPEND CAP_LINUX_IMMUTABLE CAP_AUDIT_CONTROL CAP_AUDIT_READ CAP_SYSLOG
# UNIX (systemd, D-Bus, wireguard-go's socket), IPv4/6 (API, probes), netlink (ip, wg, LVM/udev).
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# Far above what a join needs (measured in the VM lab: see 0151), so only a runaway is stopped.
TasksMax=1024
MemoryMax=1G

[Install]
WantedBy=multi-user.target
UNIT
}

installer_uninstall_script() {
  cat <<'UNINSTALL'
@@UNINSTALL_SCRIPT@@
UNINSTALL
}

main() {
  set -euo pipefail
  umask 077

  # ---- values baked in by the control plane --------------------------------
  local API_URL="@@API_URL@@"
  local ORG_ID="@@ORG_ID@@"
  local CLUSTER_ID="@@CLUSTER_ID@@"
  local EDGE_LOCATION_ID="@@EDGE_LOCATION_ID@@"
  local BOOTSTRAP_TOKEN="@@BOOTSTRAP_TOKEN@@"
  local AGENT_VERSION="@@AGENT_VERSION@@"
  local URL_AMD64_XZ="@@URL_AMD64_XZ@@" SHA256_AMD64_XZ="@@SHA256_AMD64_XZ@@"
  local URL_AMD64_GZ="@@URL_AMD64_GZ@@" SHA256_AMD64_GZ="@@SHA256_AMD64_GZ@@"
  local URL_ARM64_XZ="@@URL_ARM64_XZ@@" SHA256_ARM64_XZ="@@SHA256_ARM64_XZ@@"
  local URL_ARM64_GZ="@@URL_ARM64_GZ@@" SHA256_ARM64_GZ="@@SHA256_ARM64_GZ@@"

  local BIN=/usr/local/bin/castai-edge-initd
  local UNINSTALL=/usr/local/bin/castai-edge-initd-uninstall.sh
  local UNIT=/etc/systemd/system/castai-edge-initd.service
  local ENV_DIR=/etc/castai-edge-initd
  local ENV_FILE="$ENV_DIR/castai-edge-initd.env"
  local STATE_DIR=/var/lib/castai-edge-initd
  local MANIFEST="$STATE_DIR/installed-files"

  say() { printf 'castai-edge-initd-install: %s\n' "$*"; }
  die() { printf 'castai-edge-initd-install: ERROR: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf '  fix: %s\n' "$2" >&2; exit "${3:-1}"; }

  case "$API_URL" in @@*) die "this is the unfilled installer template (API_URL is not set)" "download the script from the control plane: <api>/…/edge-locations/<id>:edgeInitdScript" ;; esac

  # ---- host checks ----------------------------------------------------------
  [ "$(id -u)" -eq 0 ] || die "must run as root" "pipe into 'sudo bash' instead of 'bash'"
  [ -d /run/systemd/system ] || die "systemd is not the init system (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown))" "edge-initd needs a systemd host"
  local machine arch
  machine="$(uname -m)"
  case "$machine" in
    x86_64|amd64) arch=amd64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) die "unsupported architecture $machine" "edge-initd supports x86_64 and aarch64 only" ;;
  esac
  local kernel major minor
  kernel="$(uname -r)"
  major="${kernel%%.*}"; minor="${kernel#*.}"; minor="${minor%%[!0-9]*}"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || [ "$major" -lt 6 ]; then
    die "Linux kernel $kernel is too old (need 6.0 or newer)" "upgrade the kernel (e.g. Debian 12: linux-image-amd64; Ubuntu 22.04: linux-generic-hwe-22.04) and reboot"
  fi
  : "$minor"
  command -v curl >/dev/null || die "curl is not installed" "apt-get install curl (or dnf install curl)"
  command -v sha256sum >/dev/null || die "sha256sum is not installed" "install coreutils"

  # ---- the operator's environment, captured for the unit ---------------------
  local extra_env=""
  if [ -n "${INITD_EXTRA_ENV_FILE:-}" ]; then
    extra_env="$(readlink -f -- "$INITD_EXTRA_ENV_FILE" 2>/dev/null || true)"
    if [ -z "$extra_env" ] || [ ! -r "$extra_env" ]; then die "INITD_EXTRA_ENV_FILE=$INITD_EXTRA_ENV_FILE: file not found or not readable" "pass an existing file, e.g. INITD_EXTRA_ENV_FILE=/root/edge.env"; fi
  fi

  local tmp
  tmp="$(mktemp -d /tmp/castai-edge-initd-install.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf -- '$tmp'" EXIT

  # systemd EnvironmentFile: single-quoted values are taken literally.
  local env_new="$tmp/env" name value
  {
    echo "# Written by the castai-edge-initd installer. Secrets inside: mode 0600."
    printf "API_URL='%s'\nORG_ID='%s'\nCLUSTER_ID='%s'\nEDGE_LOCATION_ID='%s'\nINITD_BOOTSTRAP_TOKEN='%s'\n" \
      "$API_URL" "$ORG_ID" "$CLUSTER_ID" "$EDGE_LOCATION_ID" "$BOOTSTRAP_TOKEN"
    [ -n "$extra_env" ] && printf "INITD_EXTRA_ENV_FILE='%s'\n" "$extra_env"
    while IFS= read -r name; do
      case "$name" in
        INITD_EXTRA_ENV_FILE|INITD_BOOTSTRAP_TOKEN|INITD_INSTALL_WAIT_SECONDS) continue ;;
        INITD_*|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|http_proxy|https_proxy|no_proxy|NVME_DEVICES) ;;
        *) continue ;;
      esac
      value="${!name}"
      case "$value" in
        *"'"*|*$'\n'*) die "$name contains a single quote or a newline, which the unit's environment file cannot carry" "remove it from $name, or put the setting in INITD_EXTRA_ENV_FILE" 2 ;;
      esac
      printf "%s='%s'\n" "$name" "$value"
    done < <(compgen -e | LC_ALL=C sort)
  } > "$env_new"

  # ---- download and verify --------------------------------------------------
  local comp=xz url want
  command -v xz >/dev/null || comp=gz
  case "$arch-$comp" in
    amd64-xz) url="$URL_AMD64_XZ"; want="$SHA256_AMD64_XZ" ;;
    amd64-gz) url="$URL_AMD64_GZ"; want="$SHA256_AMD64_GZ" ;;
    arm64-xz) url="$URL_ARM64_XZ"; want="$SHA256_ARM64_XZ" ;;
    *)        url="$URL_ARM64_GZ"; want="$SHA256_ARM64_GZ" ;;
  esac
  # The bootstrap token goes to curl in a 0600 header file, never in argv.
  printf 'Authorization: Bearer %s\n' "$BOOTSTRAP_TOKEN" > "$tmp/auth-header"
  local cacert=()
  [ -n "${INITD_CA_FILE:-}" ] && cacert=(--cacert "$INITD_CA_FILE")
  say "downloading castai-edge-initd $AGENT_VERSION (linux/$arch, $comp)"
  local code
  code="$(curl --silent --show-error --location --retry 5 --retry-delay 2 --retry-connrefused \
            --connect-timeout 10 --max-time 600 "${cacert[@]}" -H "@$tmp/auth-header" \
            -o "$tmp/agent.$comp" -w '%{http_code}' "$url")" \
    || die "download failed: $url (curl exit $?)" "check egress to the API on TCP 443, and HTTPS_PROXY if this host needs a proxy"
  [ "$code" = 200 ] || die "download failed: $url returned HTTP $code" "the bootstrap token in this script may have expired (1 hour): fetch a fresh init script"
  local got
  got="$(sha256sum "$tmp/agent.$comp" | cut -d' ' -f1)"
  [ "$got" = "$want" ] || die "checksum mismatch for $url: got $got, expected $want; nothing was installed" "retry; if it persists, a proxy may be altering downloads"
  if [ "$comp" = xz ]; then xz -dc "$tmp/agent.$comp" > "$tmp/agent"; else gzip -dc "$tmp/agent.$comp" > "$tmp/agent"; fi
  chmod 0755 "$tmp/agent"

  # Validate the configuration with the new binary before anything is installed.
  if ! env -i PATH="$PATH" bash -c "set -a; . '$env_new'; set +a; exec '$tmp/agent' config >/dev/null"; then
    env -i PATH="$PATH" bash -c "set -a; . '$env_new'; set +a; exec '$tmp/agent' config" >/dev/null 2>"$tmp/config-errors" || true
    cat "$tmp/config-errors" >&2
    die "the configuration above is invalid; nothing was installed" "fix the variables named above (in INITD_EXTRA_ENV_FILE or the environment) and re-run" 2
  fi

  # ---- install (each file atomically: temp file, then rename) ---------------
  local before after
  # On a fresh host the files are missing: cat fails, and under pipefail that must not end the script.
  # The bootstrap token is fresh in every fetched script: a new token alone is no reason to
  # restart a running agent (it is only used to register), so it is left out of the comparison.
  fingerprint() { { cat "$BIN" "$UNIT" 2>/dev/null; grep -v '^INITD_BOOTSTRAP_TOKEN=' "$ENV_FILE" 2>/dev/null; } | sha256sum | cut -d' ' -f1; }
  before="$(fingerprint || true)"
  mkdir -p "$STATE_DIR" "$ENV_DIR"
  chmod 0700 "$STATE_DIR" "$ENV_DIR"
  install_file() { # src dst mode
    local t; t="$(mktemp "$(dirname "$2")/.$(basename "$2").XXXXXX")"
    cat "$1" > "$t"; chmod "$3" "$t"; mv -f "$t" "$2"
  }
  install_file "$tmp/agent" "$BIN" 0755
  installer_unit_file > "$tmp/unit"; install_file "$tmp/unit" "$UNIT" 0644
  install_file "$env_new" "$ENV_FILE" 0600
  installer_uninstall_script > "$tmp/uninstall"; install_file "$tmp/uninstall" "$UNINSTALL" 0755
  # A copy of this installer (it holds the bootstrap token: 0600). Piped scripts
  # cannot be re-read, so the copy is rebuilt from the functions bash parsed.
  { echo '#!/usr/bin/env bash'; echo '# castai-edge-initd installer (copy kept by the installer)'; declare -f; echo 'main "$@"'; } > "$tmp/init_script"
  install_file "$tmp/init_script" "$STATE_DIR/init_script" 0600
  printf '%s\n' "$BIN" "$UNINSTALL" "$UNIT" "$ENV_FILE" "$STATE_DIR/init_script" "$MANIFEST" > "$tmp/manifest"
  install_file "$tmp/manifest" "$MANIFEST" 0600
  after="$(fingerprint || true)"

  systemctl daemon-reload
  systemctl enable castai-edge-initd.service >/dev/null 2>&1
  if ! systemctl is-active --quiet castai-edge-initd.service && ! systemctl is-active --quiet --state=activating castai-edge-initd.service 2>/dev/null; then
    say "starting castai-edge-initd"
    systemctl start --no-block castai-edge-initd.service
  elif [ "$before" != "$after" ]; then
    say "binary, unit or environment changed: restarting castai-edge-initd"
    systemctl restart --no-block castai-edge-initd.service
  else
    say "nothing changed; castai-edge-initd keeps running"
  fi

  # Follow the agent's Status: line until it is READY (or the wait ends).
  local wait="${INITD_INSTALL_WAIT_SECONDS:-120}" last="" status state i
  for ((i = 0; i < wait; i++)); do
    state="$(systemctl show -p ActiveState --value castai-edge-initd.service)"
    status="$(systemctl show -p StatusText --value castai-edge-initd.service)"
    [ -n "$status" ] && [ "$status" != "$last" ] && say "status: $status" && last="$status"
    [ "$state" = active ] && break
    [ "$state" = failed ] && die "castai-edge-initd failed to start" "see: journalctl -u castai-edge-initd -n 50"
    sleep 1
  done
  say "installed castai-edge-initd $AGENT_VERSION. Follow it with: journalctl -u castai-edge-initd -f   (state: systemctl status castai-edge-initd)"
}
main "$@"
