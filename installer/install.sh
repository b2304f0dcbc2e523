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
#   /etc/castai-edge-initd/extra.env                 a root-owned 0600 COPY of INITD_EXTRA_ENV_FILE: the agent
#                                                    reads only this copy (a re-run without the variable keeps it)
#   /usr/local/bin/castai-edge-initd-uninstall.sh    removes exactly the files listed in
#   /var/lib/castai-edge-initd/installed-files       (this manifest)
#   /var/lib/castai-edge-initd/init_script           a copy of this script (0600)
# A re-run restarts the agent only when the binary, unit or environment changed, or when the
# agent's last pass failed (so a fix made since is tried at once).
# The script ends non-zero, with the agent's error and its fix, when the agent's first pass fails
# (the service stays installed and keeps retrying).

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

# The unit's environment file, from main's variables (bash's dynamic scope: call it from main).
# systemd's EnvironmentFile= and root bash both read it; single-quoted values are taken literally,
# and every value is kept free of ' and newlines (installer/render.ts rules; the check below).
installer_unit_env() {
  local name value
  echo "# Written by the castai-edge-initd installer. Secrets inside: mode 0600."
  printf "API_URL='%s'\nORG_ID='%s'\nCLUSTER_ID='%s'\nEDGE_LOCATION_ID='%s'\nINITD_BOOTSTRAP_TOKEN='%s'\n" \
    "$API_URL" "$ORG_ID" "$CLUSTER_ID" "$EDGE_LOCATION_ID" "$BOOTSTRAP_TOKEN"
  if [ -n "$extra_src" ]; then printf "INITD_EXTRA_ENV_FILE='%s'\n" "$EXTRA_ENV"; fi
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
  local EXTRA_ENV="$ENV_DIR/extra.env"
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

  # ---- the operator's extra env file: the agent reads only a root-owned copy --
  # (a file the operator may later edit, move or delete, or another user may write, never steers root)
  local extra_src=""
  if [ -n "${INITD_EXTRA_ENV_FILE:-}" ]; then
    extra_src="$(readlink -f -- "$INITD_EXTRA_ENV_FILE" 2>/dev/null || true)"
    if [ -z "$extra_src" ] || [ ! -r "$extra_src" ] || [ -d "$extra_src" ]; then die "INITD_EXTRA_ENV_FILE=$INITD_EXTRA_ENV_FILE: file not found or not readable" "pass an existing file, e.g. INITD_EXTRA_ENV_FILE=/root/edge.env"; fi
  elif [ -f "$EXTRA_ENV" ]; then
    extra_src="$EXTRA_ENV"
    say "INITD_EXTRA_ENV_FILE is not set: keeping the copy from the previous install ($EXTRA_ENV; INITD_EXTRA_ENV_FILE=/dev/null empties it)"
  fi

  # ---- staging, under the state directory: /tmp is often noexec (CIS hardening) ----
  local created_state=0 tmp
  [ -d "$STATE_DIR" ] || created_state=1
  mkdir -p "$STATE_DIR"
  chown 0:0 "$STATE_DIR"; chmod 0700 "$STATE_DIR"
  tmp="$(mktemp -d "$STATE_DIR/.install.XXXXXX")"
  # On any exit: drop the staging directory, and the state directory if this run created it
  # and nothing was installed into it (rmdir only removes it when empty).
  # shellcheck disable=SC2064
  trap "rm -rf -- '$tmp'; [ $created_state = 0 ] || rmdir -- '$STATE_DIR' 2>/dev/null || true" EXIT

  # The unit's environment (systemd EnvironmentFile=; the installer's checks source it with bash).
  local env_new="$tmp/env"
  installer_unit_env > "$env_new"
  if [ -n "$extra_src" ]; then cat -- "$extra_src" > "$tmp/extra.env"; fi

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
  code="$(curl --proto '=https' --proto-redir '=https' --silent --show-error --location --retry 5 --retry-delay 2 --retry-connrefused \
            --connect-timeout 10 --max-time 600 "${cacert[@]}" -H "@$tmp/auth-header" \
            -o "$tmp/agent.$comp" -w '%{http_code}' "$url")" \
    || die "download failed: $url (curl exit $?)" "check egress to the API on TCP 443, and HTTPS_PROXY if this host needs a proxy"
  [ "$code" = 200 ] || die "download failed: $url returned HTTP $code" "the bootstrap token in this script may have expired (1 hour): fetch a fresh init script"
  local got
  got="$(sha256sum "$tmp/agent.$comp" | cut -d' ' -f1)"
  [ "$got" = "$want" ] || die "checksum mismatch for $url: got $got, expected $want; nothing was installed" "retry; if it persists, a proxy may be altering downloads"
  if [ "$comp" = xz ]; then xz -dc "$tmp/agent.$comp" > "$tmp/agent"; else gzip -dc "$tmp/agent.$comp" > "$tmp/agent"; fi
  chmod 0755 "$tmp/agent"

  # The agent as systemd runs it: only the unit's environment (run with: agent_env ENV_FILE BIN ARGS...).
  # shellcheck disable=SC2016 # the inner script expands its own positional parameters
  agent_env() { env -i PATH="$PATH" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' agent_env "$@"; }

  # Validate the configuration with the new binary before anything is installed (the staged copy
  # of the extra env file stands in for the installed one; the same ownership rules apply).
  local check=(config)
  [ -n "$extra_src" ] && check+=(--env-file "$tmp/extra.env")
  if ! agent_env "$env_new" "$tmp/agent" "${check[@]}" >/dev/null 2>"$tmp/config-errors"; then
    cat "$tmp/config-errors" >&2
    die "the configuration above is invalid; nothing was installed" "fix the variables or files named above (in INITD_EXTRA_ENV_FILE or the environment) and re-run" 2
  fi

  # ---- install (each file atomically: temp file, then rename) ---------------
  local before after
  # On a fresh host the files are missing: cat fails, and under pipefail that must not end the script.
  # The bootstrap token is fresh in every fetched script: a new token alone is no reason to
  # restart a running agent (it is only used to register), so it is left out of the comparison.
  fingerprint() { { cat "$BIN" "$UNIT" "$EXTRA_ENV" 2>/dev/null; grep -v '^INITD_BOOTSTRAP_TOKEN=' "$ENV_FILE" 2>/dev/null; } | sha256sum | cut -d' ' -f1; }
  before="$(fingerprint || true)"
  mkdir -p "$ENV_DIR"
  chown 0:0 "$ENV_DIR"; chmod 0700 "$ENV_DIR"
  install_file() { # src dst mode
    local t; t="$(mktemp "$(dirname "$2")/.$(basename "$2").XXXXXX")"
    cat "$1" > "$t"; chmod "$3" "$t"; mv -f "$t" "$2"
  }
  install_file "$tmp/agent" "$BIN" 0755
  installer_unit_file > "$tmp/unit"; install_file "$tmp/unit" "$UNIT" 0644
  install_file "$env_new" "$ENV_FILE" 0600
  local extra_installed=()
  if [ -n "$extra_src" ]; then install_file "$tmp/extra.env" "$EXTRA_ENV" 0600; extra_installed=("$EXTRA_ENV"); fi
  installer_uninstall_script > "$tmp/uninstall"; install_file "$tmp/uninstall" "$UNINSTALL" 0755
  # A copy of this installer (it holds the bootstrap token: 0600). Piped scripts
  # cannot be re-read, so the copy is rebuilt from the functions bash parsed.
  { echo '#!/usr/bin/env bash'; echo '# castai-edge-initd installer (copy kept by the installer)'; declare -f; echo 'main "$@"'; } > "$tmp/init_script"
  install_file "$tmp/init_script" "$STATE_DIR/init_script" 0600
  printf '%s\n' "$BIN" "$UNINSTALL" "$UNIT" "$ENV_FILE" "${extra_installed[@]}" "$STATE_DIR/init_script" "$MANIFEST" > "$tmp/manifest"
  install_file "$tmp/manifest" "$MANIFEST" 0600
  after="$(fingerprint || true)"

  systemctl daemon-reload
  systemctl enable castai-edge-initd.service >/dev/null 2>&1
  # The unit's properties, one `systemctl show` (StatusText may hold '=': read splits at the first).
  local state="" sub="" status="" invocation="" exit_code="" exit_status="" k v
  unit_state() {
    state="" sub="" status="" invocation="" exit_code="" exit_status=""
    while IFS='=' read -r k v; do
      case "$k" in
        ActiveState) state="$v" ;; SubState) sub="$v" ;; StatusText) status="$v" ;; InvocationID) invocation="$v" ;;
        ExecMainCode) exit_code="$v" ;; ExecMainStatus) exit_status="$v" ;;
      esac
    done < <(systemctl show -p ActiveState -p SubState -p StatusText -p InvocationID -p ExecMainCode -p ExecMainStatus castai-edge-initd.service)
  }
  unit_state
  local previous="$invocation"
  if [ "$state" != active ] && [ "$state" != activating ] && [ "$state" != reloading ]; then
    say "starting castai-edge-initd"
    systemctl start --no-block castai-edge-initd.service
  elif [ "$before" != "$after" ]; then
    say "binary, unit or environment changed: restarting castai-edge-initd"
    systemctl restart --no-block castai-edge-initd.service
  elif ! agent_env "$ENV_FILE" "$BIN" status >/dev/null 2>&1; then
    say "nothing changed, but the agent is failing (its last pass failed, or it keeps exiting): restarting castai-edge-initd so it retries now"
    systemctl restart --no-block castai-edge-initd.service
  else
    say "nothing changed; castai-edge-initd keeps running"
    previous=""
  fi

  # Follow the agent's Status: line until its first pass is over: READY=1 (joined, or failed with a
  # message), or the unit failed, or the agent exited with a configuration error (exit status 2:
  # retrying cannot help), or the wait ends. A start or restart is followed in the NEW invocation
  # only (InvocationID changes), never in the one it replaced. Other exits (a crash, a kill) are
  # restarted by systemd and followed on; still restarting when the wait ends counts as failing.
  local wait="${INITD_INSTALL_WAIT_SECONDS:-120}" last="" over=0 i
  for ((i = 0; i < wait; i++)); do
    unit_state
    if [ -n "$previous" ] && [ "$invocation" = "$previous" ]; then sleep 1; continue; fi
    [ -n "$status" ] && [ "$status" != "$last" ] && say "status: $status" && last="$status"
    if [ "$state" = active ] || [ "$state" = failed ]; then over=1; break; fi
    if [ "$sub" = auto-restart ] && { [ "$exit_code" = 1 ] || [ "$exit_code" = exited ]; } && [ "$exit_status" = 2 ]; then over=1; break; fi
    sleep 1
  done
  if [ "$over" = 0 ] && [ "$wait" -gt 0 ] && [ "$sub" = auto-restart ]; then over=1; fi
  if [ "$over" = 0 ]; then
    say "castai-edge-initd $AGENT_VERSION is installed and still on its first pass after ${wait}s; it carries on in the background. Follow it with: journalctl -u castai-edge-initd -f   (state: castai-edge-initd status)"
    return 0
  fi
  # The first pass is over: `castai-edge-initd status` says how it went (exit 0: running, last pass OK).
  local report rc=0
  report="$(agent_env "$ENV_FILE" "$BIN" status 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '%s\n' "$report" >&2
    die "castai-edge-initd $AGENT_VERSION is installed, but its first pass failed (the agent's error and its fix are above, status exit $rc); the service stays installed and retries every minute" \
      "fix the cause named above, then re-run this one-liner (it restarts the agent), or follow the retries with: journalctl -u castai-edge-initd -f" 1
  fi
  say "installed castai-edge-initd $AGENT_VERSION. Follow it with: journalctl -u castai-edge-initd -f   (state: castai-edge-initd status)"
}
main "$@"
