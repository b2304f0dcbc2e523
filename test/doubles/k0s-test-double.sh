#!/usr/bin/env bash
# ============================================================================
#  k0s-test-double -- NOT k0s. A TEST DOUBLE of the k0s CLI subset that
#  castai-edge-initd calls, served by the control-plane emulator
#  (test/control-plane/) as the "k0s" artifact, so the VM lab can exercise the
#  agent's k0s step without a real Kubernetes control plane.
#
#  It models k0s v1.34.10 (sources read at tag v1.34.10+k0s.0) and is never
#  more lenient than it: every behaviour below is cited, one line each, in
#  docs/decisions/0140-k0s-double-upstream.md. Where k0s accepts a flag this
#  double does not implement, the double refuses it (stricter, never looser).
#
#  Needs only bash, coreutils, gzip, curl, openssl (and systemd for start/stop).
#  No node, no python, no jq.
#
#  Subset implemented (flags as k0s parses them: pflag/cobra):
#    k0s version
#    k0s install worker [--token-file F] [--labels L] [--taints T]
#                       [--kubelet-extra-args A] [-e|--env K=V]... [--force]
#    k0s start | stop | status | reset
#    k0s worker [--token-file=F] ...     (the k0sworker.service process)
#
#  `install worker` renders /etc/systemd/system/k0sworker.service with k0s's
#  own template (pkg/install/systemd_linux.go), arguments escaped as
#  kardianos/service's cmdEscape does (spaces only) and -e values written RAW
#  into Environment="..." lines, exactly like k0s: systemd then expands %
#  specifiers in them and `systemctl show` shows them to every user.
#
#  `worker` decodes the join token (base64 -d | gunzip), checks its user is
#  kubelet-bootstrap, makes a key and a CSR (CN=system:node:<name>,
#  O=system:nodes) like the kubelet's TLS bootstrap, has the emulator's kube
#  API sign it (https://<host>:8443/k0s-test-double/v1/join, bootstrap token,
#  TLS verified against the CA in the token; the emulator records the Node),
#  and writes the kubelet's files exactly where and how they are written on a
#  real node:
#    /var/lib/k0s/kubelet/pki/kubelet-client-<YYYY-MM-DD-HH-MM-SS>.pem (0600,
#      cert + key) and the symlink kubelet-client-current.pem;
#    /var/lib/k0s/kubelet.conf (0600): cluster default-cluster (CA data),
#      user default-auth with client-certificate/client-key pointing at
#      kubelet-client-current.pem.
#  It then heartbeats with that client certificate (the emulator keeps the
#  Node's Ready condition from the heartbeats, like the node lifecycle
#  controller does from kubelet status updates).
#
#  Test hooks (environment):
#    K0S_TEST_DOUBLE_ROOT=DIR        prefix every path with DIR, skip the root
#                                    check, and run the worker as a background
#                                    process instead of via systemd (host tests)
#    K0S_TEST_DOUBLE_HEARTBEAT_SEC   heartbeat period (default 10, the
#                                    kubelet's nodeStatusUpdateFrequency)
#    K0S_TEST_DOUBLE_SYSTEMCTL       systemctl binary (default systemctl)
# ============================================================================
set -euo pipefail

K0S_VERSION="v1.34.10+k0s.0"
R="${K0S_TEST_DOUBLE_ROOT:-}"
SYSTEMCTL="${K0S_TEST_DOUBLE_SYSTEMCTL:-systemctl}"
HEARTBEAT_SEC="${K0S_TEST_DOUBLE_HEARTBEAT_SEC:-10}"
BIN_PATH="/usr/local/bin/k0s"
UNIT_NAME="k0sworker.service"
UNIT_PATH="/etc/systemd/system/$UNIT_NAME"
UNIT="$R$UNIT_PATH"
DATA_DIR="$R/var/lib/k0s"
RUN_DIR="$R/run/k0s"
KUBELET_ROOT="$DATA_DIR/kubelet"
PKI_DIR="$KUBELET_ROOT/pki"
OWN_DIR="$DATA_DIR/k0s-test-double"
PID_FILE="$RUN_DIR/k0s.pid"
KUBELET_CONF="$DATA_DIR/kubelet.conf"
# What the kubelet's kubeconfig names (paths as seen on the node, without the test ROOT).
CURRENT_PEM_PATH="/var/lib/k0s/kubelet/pki/kubelet-client-current.pem"
CURRENT_PEM="$R$CURRENT_PEM_PATH"
KUBE_CA="$RUN_DIR/kube-ca.crt"

# cobra prints "Error: <message>" on stderr and k0s exits 1.
err() { printf 'Error: %s\n' "$*" >&2; exit 1; }
# logrus text format, like k0s's own log lines.
logi() { printf 'time="%s" level=info msg="%s"\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
logw() { printf 'time="%s" level=warning msg="%s"\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
log() { printf '%s k0s-test-double[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >&2; }

use_systemd() { [ -z "$R" ] || [ -n "${K0S_TEST_DOUBLE_SYSTEMCTL:-}" ]; }

require_root() {
  if [ -z "$R" ] && [ "$(id -u)" != "0" ]; then err "this command must be run as root"; fi
}

# --- JSON / quoting helpers -------------------------------------------------
json_str() { # $1 -> "escaped"
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}

labels_json() { # "a=b,c=d" -> {"a":"b","c":"d"}
  local out="" kv
  local -a items=()
  [ -n "$1" ] && IFS=',' read -ra items <<<"$1"
  for kv in "${items[@]}"; do
    [ -z "$kv" ] && continue
    out+="${out:+,}$(json_str "${kv%%=*}"):$(json_str "${kv#*=}")"
  done
  printf '{%s}' "$out"
}

taints_json() { # "k=v:Effect,k2:Effect" -> [{"key":..,"value":..,"effect":..}]
  local out="" t kv effect key value
  local -a items=()
  [ -n "$1" ] && IFS=',' read -ra items <<<"$1"
  for t in "${items[@]}"; do
    [ -z "$t" ] && continue
    kv=${t%:*}; effect=${t##*:}
    if [[ $kv == *=* ]]; then key=${kv%%=*}; value=${kv#*=}; else key=$kv; value=""; fi
    # Like the Kubernetes API (value is omitempty), a taint without a value has no "value" field.
    if [ -n "$value" ]; then
      out+="${out:+,}{\"key\":$(json_str "$key"),\"value\":$(json_str "$value"),\"effect\":$(json_str "$effect")}"
    else
      out+="${out:+,}{\"key\":$(json_str "$key"),\"effect\":$(json_str "$effect")}"
    fi
  done
  printf '[%s]' "$out"
}

json_field() { # $1=json $2=field -> plain string value (flat string fields only, no escaped quotes)
  printf '%s' "$1" | grep -o "\"$2\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" | head -n1 | sed 's/.*:[[:space:]]*"\(.*\)"$/\1/' || true
}

# kardianos/service's template function cmdEscape (service_linux.go): spaces become \x20, nothing else
# is escaped (no quoting, no %% for specifiers, no $$).
cmd_escape() { local s=$1; printf '%s' "${s// /\\x20}"; }

yaml_value() { # $1=key -> first "key: value" in the kubeconfig on stdin
  sed -n "s/^[[:space:]-]*$1:[[:space:]]*//p" | head -n1 | sed "s/^[\"']//; s/[\"']\$//"
}

abs_path() { # filepath.Abs: relative to the working directory, cleaned
  case "$1" in
    /*) realpath -m -- "$1" ;;
    *) realpath -m -- "$PWD/$1" ;;
  esac
}

# --- flags (pflag semantics) --------------------------------------------------
# Flags k0s v1.34 accepts on `install worker` / `worker` that this double does not implement:
# it refuses them instead of silently ignoring them.
K0S_ONLY_LONG=" verbose debug debugListenOn data-dir status-socket cidr-range kubelet-root-dir profile enable-cloud-provider logging iptables-mode ignore-pre-flight-checks cri-socket help "
K0S_ONLY_SHORT=" v d l h "

TOKEN_FILE="" TOKEN_FILE_SET=0 KUBELET_EXTRA_ARGS="" KUBELET_EXTRA_ARGS_SET=0 FORCE=0
declare -A LABELS=()
LABELS_SET=0
TAINTS=() TAINTS_SET=0
ENVS=()
POSITIONAL=()

set_labels() { # --labels: k8s.io/component-base ConfigurationMap.Set (pairs split on ",", each "k=v", trimmed)
  local item k v
  local -a items=()
  IFS=',' read -ra items <<<"$1"
  for item in "${items[@]}"; do
    [ -z "$item" ] && continue
    [[ $item == *=* ]] || err "invalid argument \"$1\" for \"--labels\" flag: malformed pair, expect string=string"
    k=${item%%=*}; v=${item#*=}
    k="${k#"${k%%[![:space:]]*}"}"; k="${k%"${k##*[![:space:]]}"}"
    v="${v#"${v%%[![:space:]]*}"}"; v="${v%"${v##*[![:space:]]}"}"
    LABELS[$k]=$v
  done
  LABELS_SET=1
}

set_taints() { # --taints: pflag stringSlice (comma separated; the first use replaces the default, later uses append)
  local -a items=()
  [ "$TAINTS_SET" = 1 ] || TAINTS=()
  [ -n "$1" ] && IFS=',' read -ra items <<<"$1"
  TAINTS+=("${items[@]}")
  TAINTS_SET=1
}

set_bool() { # $1=flag $2=value -> 0/1 (strconv.ParseBool)
  case "$2" in
    1|t|T|TRUE|true|True) printf 1 ;;
    0|f|F|FALSE|false|False) printf 0 ;;
    *) err "invalid argument \"$2\" for \"--$1\" flag: strconv.ParseBool: parsing \"$2\": invalid syntax" ;;
  esac
}

# $1 = "install" (install worker: -e/--env and --force exist) or "worker"
parse_flags() {
  local mode=$1 a name value has_value
  shift
  while [ $# -gt 0 ]; do
    a=$1; shift
    case "$a" in
      --) POSITIONAL+=("$@"); break ;;
      --*)
        name=${a#--}; has_value=0; value=""
        if [[ $name == *=* ]]; then value=${name#*=}; name=${name%%=*}; has_value=1; fi
        case "$name" in
          force)
            [ "$mode" = install ] || err "unknown flag: --$name"
            if [ "$has_value" = 1 ]; then FORCE=$(set_bool force "$value"); else FORCE=1; fi
            continue ;;
          token-file|labels|taints|kubelet-extra-args|env) ;;
          *)
            if [[ $K0S_ONLY_LONG == *" $name "* ]]; then
              err "k0s-test-double does not implement --$name (k0s accepts it; this double refuses what it cannot honour)"
            fi
            err "unknown flag: --$name" ;;
        esac
        if [ "$name" = env ] && [ "$mode" != install ]; then err "unknown flag: --env"; fi
        if [ "$has_value" = 0 ]; then
          [ $# -gt 0 ] || err "flag needs an argument: --$name"
          value=$1; shift
        fi
        case "$name" in
          token-file) TOKEN_FILE=$value; TOKEN_FILE_SET=1 ;;
          labels) set_labels "$value" ;;
          taints) set_taints "$value" ;;
          kubelet-extra-args) KUBELET_EXTRA_ARGS=$value; KUBELET_EXTRA_ARGS_SET=1 ;;
          env) ENVS+=("$value") ;;
        esac ;;
      -?*)
        local c=${a:1:1} rest=${a:2}
        if [ "$c" = e ] && [ "$mode" = install ]; then
          if [ -n "$rest" ]; then value=${rest#=}
          else
            [ $# -gt 0 ] || err "flag needs an argument: 'e' in -e"
            value=$1; shift
          fi
          ENVS+=("$value")
          continue
        fi
        if [[ $K0S_ONLY_SHORT == *" $c "* ]]; then
          err "k0s-test-double does not implement -$c (k0s accepts it; this double refuses what it cannot honour)"
        fi
        err "unknown shorthand flag: '$c' in $a" ;;
      *) POSITIONAL+=("$a") ;;
    esac
  done
}

# The labels as k0s renders them (ConfigurationMap.String: "k=v" pairs sorted, comma joined).
labels_string() {
  local k
  for k in "${!LABELS[@]}"; do printf '%s=%s\n' "$k" "${LABELS[$k]}"; done | LC_ALL=C sort | paste -sd, -
}

# The taints as k0s renders them (stringSlice.String() with the "[]" trimmed).
taints_string() { local IFS=,; printf '%s' "${TAINTS[*]}"; }

worker_pid() { # prints the running worker pid, or nothing
  local pid
  [ -f "$PID_FILE" ] || return 0
  pid=$(cat "$PID_FILE" 2>/dev/null || true)
  # alive, and really our worker (not a recycled pid)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q ' worker'; then
    printf '%s' "$pid"
  fi
}

is_running() {
  if use_systemd && "$SYSTEMCTL" is-active --quiet "$UNIT_NAME" 2>/dev/null; then return 0; fi
  [ -n "$(worker_pid)" ]
}

# --- commands -----------------------------------------------------------------
cmd_version() { printf '%s (k0s-test-double)\n' "$K0S_VERSION"; }

# kardianos/service systemd.Uninstall: disable, remove the unit file, daemon-reload (the first
# failure returns: the file then stays, and a following Install fails with "Init already exists").
service_uninstall() {
  if use_systemd; then
    "$SYSTEMCTL" disable "$UNIT_NAME" >/dev/null 2>&1 || return 1
  fi
  rm -f -- "$UNIT" || return 1
  if use_systemd; then "$SYSTEMCTL" daemon-reload || return 1; fi
}

cmd_install() {
  [ "${1:-}" = "worker" ] || err "k0s-test-double only implements \"install worker\" (got \"install ${1:-}\")"
  shift
  parse_flags install "$@"
  [ ${#POSITIONAL[@]} -eq 0 ] || err "unknown command \"${POSITIONAL[0]}\" for \"k0s install worker\""
  require_root

  # cmdFlagsToArgs: the set flags in lexicographical order, token-file made absolute, each as
  # --name=value; -e/--env and --force are not forwarded.
  local -a args=(worker)
  [ "$KUBELET_EXTRA_ARGS_SET" = 1 ] && args+=("--kubelet-extra-args=$KUBELET_EXTRA_ARGS")
  [ "$LABELS_SET" = 1 ] && args+=("--labels=$(labels_string)")
  [ "$TAINTS_SET" = 1 ] && args+=("--taints=$(taints_string)")
  [ "$TOKEN_FILE_SET" = 1 ] && args+=("--token-file=$(abs_path "$TOKEN_FILE")")

  if [ "$FORCE" = 1 ]; then
    logi "Uninstalling k0sworker service"
    service_uninstall || logw "failed to uninstall service: systemctl disable $UNIT_NAME failed"
  fi
  logi "Installing k0sworker service"
  [ ! -e "$UNIT" ] || err "failed to install worker service: Init already exists: $UNIT_PATH"

  local exec a envlines="" e
  exec="ExecStart=$(cmd_escape "$BIN_PATH")"
  for a in "${args[@]}"; do exec+=" $(cmd_escape "$a")"; done
  for e in "${ENVS[@]}"; do envlines+=$'\n'"Environment=\"$e\""; done
  mkdir -p "$(dirname "$UNIT")"
  # os.OpenFile(path, O_WRONLY|O_CREATE, 0644): the mode is subject to the caller's umask.
  (
    umask "$(printf '%04o' $(( 8#$(umask) | 8#022 )))"
    cat >"$UNIT" <<EOF
# k0s-test-double: this unit is what "k0s install worker" (v1.34) writes, from its template.
[Unit]
Description=k0s - Zero Friction Kubernetes
Documentation=https://docs.k0sproject.io
ConditionFileIsExecutable=$(cmd_escape "$BIN_PATH")

After=network-online.target 
Wants=network-online.target 

[Service]
StartLimitInterval=5
StartLimitBurst=10
${exec}${envlines}

RestartSec=10
Delegate=yes
KillMode=process
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
LimitNOFILE=999999
Restart=always

[Install]
WantedBy=multi-user.target
EOF
  )
  # The worker args, for starting without systemd (K0S_TEST_DOUBLE_ROOT).
  mkdir -p "$OWN_DIR"
  printf '%s\0' "${args[@]:1}" >"$OWN_DIR/worker.args"
  if use_systemd; then
    "$SYSTEMCTL" enable "$UNIT_NAME" || err "failed to install worker service: systemctl enable $UNIT_NAME failed"
    "$SYSTEMCTL" daemon-reload || err "failed to install worker service: systemctl daemon-reload failed"
  fi
}

cmd_start() {
  [ $# -eq 0 ] || err "unknown command \"$1\" for \"k0s start\""
  require_root
  [ -e "$UNIT" ] || err "k0s has not been installed as a service"
  is_running && err "already running"
  if use_systemd; then
    "$SYSTEMCTL" start "$UNIT_NAME"
    return
  fi
  local -a args=()
  [ -s "$OWN_DIR/worker.args" ] && mapfile -d '' args <"$OWN_DIR/worker.args"
  mkdir -p "$RUN_DIR" "$R/var/log"
  setsid "$0" worker "${args[@]}" >>"$R/var/log/k0sworker.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 50); do
    [ -n "$(worker_pid)" ] && return 0
    sleep 0.1
  done
  err "the worker did not start; see $R/var/log/k0sworker.log"
}

cmd_stop() {
  [ $# -eq 0 ] || err "unknown command \"$1\" for \"k0s stop\""
  require_root
  [ -e "$UNIT" ] || err "k0s has not been installed as a service"
  is_running || err "already stopped"
  if use_systemd; then
    "$SYSTEMCTL" stop "$UNIT_NAME"
    return
  fi
  local pid i
  pid=$(worker_pid)
  kill -TERM "$pid"
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  err "the worker (pid $pid) did not stop"
}

cmd_status() {
  local pid joined=false
  pid=$(worker_pid)
  if [ -z "$pid" ]; then
    err "Get \"http://localhost/status\": dial unix /run/k0s/status.sock: connect: no such file or directory"
  fi
  [ -f "$KUBELET_CONF" ] && joined=true
  printf 'Version: %s (k0s-test-double)\nProcess ID: %s\nRole: worker\nWorkloads: true\nSingleNode: false\nKube-api probing successful: %s\nKube-api probing last error: \nInit System: linux-systemd\nService file: %s\n' \
    "$K0S_VERSION" "$pid" "$joined" "$UNIT_PATH"
}

# pkg/cleanup/directories.go: unmount everything below the data dir (but not the data dir itself:
# k0s did not mount it), lazily if need be, and delete nothing when that fails; then remove the
# kubelet root dir, the contents of the data dir (the dir itself stays when it is a mount point)
# and the run dir.
cleanup_directories() {
  local mp
  if [ -z "$R" ]; then
    while read -r mp; do
      [ -n "$mp" ] || continue
      umount "$mp" 2>/dev/null || { logw "lazy unmounting $mp"; umount -l "$mp" 2>/dev/null || err "failed unmount $mp"; }
    done < <(awk -v d="$DATA_DIR" '{ gsub(/\\040/, " ", $5) } $5 != d && index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | tac)
  fi
  rm -rf --one-file-system -- "$KUBELET_ROOT"
  if [ -d "$DATA_DIR" ]; then
    find "$DATA_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system -- {} +
    rmdir -- "$DATA_DIR" 2>/dev/null || true
  fi
  rm -rf --one-file-system -- "$RUN_DIR"
}

cmd_reset() {
  [ $# -eq 0 ] || err "unknown command \"$1\" for \"k0s reset\""
  require_root
  if is_running; then err "another k0s process is still running, please stop k0s before reset"; fi
  # services step: uninstall the k0scontroller and k0sworker services (a missing one is fine).
  if [ -e "$UNIT" ]; then service_uninstall || err "uninstall service step: failed to uninstall $UNIT_NAME"; fi
  cleanup_directories
  logi "k0s cleanup operations done."
  logw "To ensure a full reset, a node reboot is recommended."
}

# --- the worker process (what k0sworker.service runs) ------------------------
WORKER_SLEEP_PID=""
worker_exit() {
  [ -n "$WORKER_SLEEP_PID" ] && kill "$WORKER_SLEEP_PID" 2>/dev/null
  rm -f "$PID_FILE"
  log "stopping"
  exit 0
}

kube_call() { # $1=url $2=body-file $3=response-file [$4=bootstrap token] -> prints the HTTP code
  # A bootstrap token goes to curl on stdin (-H @-), never in argv; otherwise the client certificate.
  if [ -n "${4:-}" ]; then
    printf 'Authorization: Bearer %s\n' "$4" | curl -sS --max-time 10 --cacert "$KUBE_CA" \
      -H @- -H 'Content-Type: application/json' --data-binary @"$2" -o "$3" -w '%{http_code}' "$1" || true
  else
    curl -sS --max-time 10 --cacert "$KUBE_CA" --cert "$CURRENT_PEM" --key "$CURRENT_PEM" \
      -H 'Content-Type: application/json' --data-binary @"$2" -o "$3" -w '%{http_code}' "$1" || true
  fi
}

kubelet_conf_ca() { # the CA PEM from kubelet.conf's certificate-authority-data
  yaml_value certificate-authority-data <"$KUBELET_CONF" | base64 -d
}

cmd_worker() {
  parse_flags worker "$@"
  require_root
  local token_arg=""
  [ ${#POSITIONAL[@]} -le 1 ] || err "accepts at most 1 arg(s), received ${#POSITIONAL[@]}"
  [ ${#POSITIONAL[@]} -eq 1 ] && token_arg=${POSITIONAL[0]}
  if [ -n "$token_arg" ] && [ -n "$TOKEN_FILE" ]; then
    err "you can only pass one token argument either as a CLI argument 'k0s worker [token]' or as a flag 'k0s worker --token-file [path]'"
  fi
  local node_ip="" hostname_override="" provider_id=""
  local -a extra=()
  read -ra extra <<<"$KUBELET_EXTRA_ARGS"
  local i a
  for ((i = 0; i < ${#extra[@]}; i++)); do
    a=${extra[$i]}
    case "$a" in
      --node-ip=*) node_ip=${a#*=} ;;
      --node-ip) node_ip=${extra[$((i + 1))]:-}; i=$((i + 1)) ;;
      --hostname-override=*) hostname_override=${a#*=} ;;
      --hostname-override) hostname_override=${extra[$((i + 1))]:-}; i=$((i + 1)) ;;
      --provider-id=*) provider_id=${a#*=} ;;
      --provider-id) provider_id=${extra[$((i + 1))]:-}; i=$((i + 1)) ;;
    esac
  done
  local host_name node_name
  host_name=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
  # node.GetNodeName: --hostname-override, else the host name, lower-cased.
  node_name=${hostname_override:-$host_name}
  node_name=$(printf '%s' "$node_name" | tr '[:upper:]' '[:lower:]')
  local labels taints
  labels=$(labels_string)
  taints=$(taints_string)

  mkdir -p "$RUN_DIR" "$DATA_DIR" "$OWN_DIR"
  chmod 0755 "$DATA_DIR"
  [ -z "$(worker_pid)" ] || err "another k0s process is still running (pid $(worker_pid))"
  printf '%s\n' "$$" >"$PID_FILE"
  trap worker_exit TERM INT
  trap 'rm -f "$PID_FILE" "$RUN_DIR/join.json" "$RUN_DIR/join.resp" "$RUN_DIR/kubelet.csr"' EXIT

  local server
  if [ -f "$KUBELET_CONF" ]; then
    # BootstrapKubeletClientConfig: a kubelet.conf exists, so the join token is ignored from now on.
    server=$(yaml_value server <"$KUBELET_CONF")
    kubelet_conf_ca >"$KUBE_CA"
    log "already joined (kubelet.conf exists) as $node_name, server $server"
  else
    local token_data
    if [ -n "$token_arg" ]; then
      token_data=$token_arg
    else
      [ -n "$TOKEN_FILE" ] || { rm -f "$PID_FILE"; err "failed to bootstrap kubelet client configuration: neither regular nor bootstrap kubeconfig files exist and no join token given; dunno how to make kubelet authenticate to API server"; }
      if [ ! -e "$R$TOKEN_FILE" ]; then
        rm -f "$PID_FILE"
        err "failed to bootstrap kubelet client configuration: failed to get bootstrap kubeconfig: token file \"$TOKEN_FILE\" not found: obtain a new token via \"k0s token create ...\" and store it in the file or reinstall this node via \"k0s install --force ...\" or \"k0sctl apply --force ...\""
      fi
      if [ ! -s "$R$TOKEN_FILE" ]; then
        rm -f "$PID_FILE"
        err "failed to bootstrap kubelet client configuration: failed to get bootstrap kubeconfig: token file \"$TOKEN_FILE\" is empty: obtain a new token via \"k0s token create ...\" and store it in the file or reinstall this node via \"k0s install --force ...\" or \"k0sctl apply --force ...\""
      fi
      token_data=$(cat "$R$TOKEN_FILE")
    fi
    local kubeconfig user token ca_data
    if ! kubeconfig=$(printf '%s' "$token_data" | base64 -d 2>/dev/null | gunzip 2>/dev/null); then
      rm -f "$PID_FILE"; err "failed to bootstrap kubelet client configuration: failed to get bootstrap kubeconfig: failed to decode join token: not base64(gzip(kubeconfig))"
    fi
    server=$(yaml_value server <<<"$kubeconfig")
    ca_data=$(yaml_value certificate-authority-data <<<"$kubeconfig")
    token=$(yaml_value token <<<"$kubeconfig")
    user=$(sed -n 's/^- name:[[:space:]]*//p' <<<"$kubeconfig" | tail -n1)
    [ "$user" = "kubelet-bootstrap" ] || { rm -f "$PID_FILE"; err "failed to bootstrap kubelet client configuration: failed to get bootstrap kubeconfig: wrong token type $user, expected type: kubelet-bootstrap"; }
    if [ -z "$server" ] || [ -z "$ca_data" ] || [ -z "$token" ]; then
      rm -f "$PID_FILE"; err "failed to bootstrap kubelet client configuration: join token kubeconfig lacks server, certificate-authority-data or token"
    fi
    printf '%s' "$ca_data" | base64 -d >"$KUBE_CA"

    # The kubelet's TLS bootstrap: the private key is cached as kubelet-client.key.tmp until the
    # certificate is issued, so a retry reuses it; the CSR names system:node:<name> in system:nodes.
    mkdir -p "$PKI_DIR"
    chmod 0755 "$KUBELET_ROOT" "$PKI_DIR"
    local tmpkey="$PKI_DIR/kubelet-client.key.tmp"
    if [ ! -s "$tmpkey" ]; then
      (umask 077; openssl ecparam -name prime256v1 -genkey -noout -out "$tmpkey" 2>/dev/null) || { rm -f "$PID_FILE"; err "failed to generate the kubelet client key (openssl)"; }
    fi
    openssl req -new -key "$tmpkey" -subj "/O=system:nodes/CN=system:node:$node_name" -out "$RUN_DIR/kubelet.csr" 2>/dev/null \
      || { rm -f "$PID_FILE"; err "failed to make the kubelet certificate signing request (openssl)"; }

    local body="$RUN_DIR/join.json" resp="$RUN_DIR/join.resp" code
    printf '{"nodeName":%s,"hostname":%s,"nodeIP":%s,"providerID":%s,"labels":%s,"taints":%s,"k0sVersion":%s,"csr":%s}\n' \
      "$(json_str "$node_name")" "$(json_str "$host_name")" "$(json_str "$node_ip")" "$(json_str "$provider_id")" \
      "$(labels_json "$labels")" "$(taints_json "$taints")" "$(json_str "$K0S_VERSION")" "$(json_str "$(cat "$RUN_DIR/kubelet.csr")")" >"$body"
    log "joining $server as $node_name (labels: ${labels:-none}, taints: ${taints:-none}, node-ip: ${node_ip:-auto})"
    code=$(kube_call "$server/k0s-test-double/v1/join" "$body" "$resp" "$token")
    if [ "$code" != "201" ]; then
      local msg
      msg=$(json_field "$(cat "$resp" 2>/dev/null || true)" message)
      rm -f "$PID_FILE" "$resp"
      case "$code:$msg" in
        401:*expired*) err "join failed: the bootstrap token in the join token expired (HTTP 401: $msg); get a fresh join token" ;;
        000:*) err "join failed: cannot reach $server (TLS or network error, see above)" ;;
        *) err "join failed: HTTP $code: ${msg:-no message}" ;;
      esac
    fi
    # The response carries the PEM with its newlines JSON-escaped.
    local cert
    cert=$(sed -n 's/.*"certificate"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$resp" | sed 's/\\n/\n/g')
    rm -f "$resp"
    case "$cert" in *"BEGIN CERTIFICATE"*) ;; *) rm -f "$PID_FILE"; err "join response has no certificate" ;; esac

    # client-go's certificate FileStore: kubelet-client-<time>.pem (0600, certificate then key),
    # then kubelet-client-current.pem is (re)pointed at it, an absolute symlink.
    local stamp pem
    stamp=$(date +%Y-%m-%d-%H-%M-%S)
    pem="$PKI_DIR/kubelet-client-$stamp.pem"
    (umask 077; { printf '%s\n' "$cert"; cat "$tmpkey"; } >"$pem")
    chmod 0600 "$pem"
    ln -sfn "$pem" "$PKI_DIR/kubelet-client-updated.pem"
    mv -Tf "$PKI_DIR/kubelet-client-updated.pem" "$CURRENT_PEM"
    rm -f "$tmpkey"

    # bootstrap.writeKubeconfigFromBootstrapping + clientcmd.WriteToFile (0600, keys sorted).
    local tmp="$KUBELET_CONF.tmp.$$"
    (
      umask 077
      cat >"$tmp" <<EOF
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $ca_data
    server: $server
  name: default-cluster
contexts:
- context:
    cluster: default-cluster
    namespace: default
    user: default-auth
  name: default-context
current-context: default-context
kind: Config
preferences: {}
users:
- name: default-auth
  user:
    client-certificate: $CURRENT_PEM_PATH
    client-key: $CURRENT_PEM_PATH
EOF
    )
    mv -f "$tmp" "$KUBELET_CONF"
    log "joined as $node_name; wrote ${KUBELET_CONF#"$R"} (client certificate ${pem#"$R"})"
  fi

  printf '{"nodeName":%s}\n' "$(json_str "$node_name")" >"$RUN_DIR/heartbeat.json"
  while true; do
    local hb
    hb=$(kube_call "$server/k0s-test-double/v1/heartbeat" "$RUN_DIR/heartbeat.json" /dev/null)
    [ "$hb" = "200" ] || log "heartbeat to $server failed (HTTP $hb)"
    sleep "$HEARTBEAT_SEC" &
    WORKER_SLEEP_PID=$!
    wait "$WORKER_SLEEP_PID" || true
    WORKER_SLEEP_PID=""
  done
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case "$cmd" in
    version) cmd_version ;;
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    reset) cmd_reset "$@" ;;
    worker) cmd_worker "$@" ;;
    ""|help|-h|--help)
      printf 'k0s-test-double (NOT k0s): version | install worker | start | stop | status | reset | worker\n' ;;
    *) err "unknown command \"$cmd\" for \"k0s\"" ;;
  esac
}
main "$@"
