#!/usr/bin/env bash
# Idempotent bootstrap for `npm start` and `npm test`, one line per step:
#   1. etcd and nats-server: found on PATH, in the Debian package locations, or via ETCD_BIN /
#      NATS_SERVER_BIN; else installed with apt-get (Debian packages etcd-server, nats-server)
#      when we are root or have passwordless sudo; else a clear error. etcdctl (etcd-client) too,
#      for npm run etcd:snapshot / etcd:restore, but only a note when it cannot be installed.
#   2. npm dependencies: installed when node_modules is missing or older than package-lock.json.
#   3. generated code: scripts/generate.sh (TypeScript from proto/).
#   4. build: tsc into dist/ (incremental: fast when nothing changed).
#
#   scripts/setup.sh              all steps
#   scripts/setup.sh --deps-only  step 2 only (what .ci/run needs before its checks)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

check_node() {
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  [[ "$major" -ge 20 ]] || fail "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"
}

# Same search order as resolveBinary() in services/lib/topology.ts: keep both in step.
find_tool() { # <name> <env var> <dirs...>: prints the path, or nothing
  local name="$1" var="$2"; shift 2
  local explicit="${!var:-}"
  if [[ -n "$explicit" ]]; then
    [[ -x "$explicit" && -f "$explicit" ]] && printf '%s\n' "$explicit"
    return 0
  fi
  local found dir
  found="$(command -v "$name" 2>/dev/null || true)"
  [[ -n "$found" && -x "$found" && -f "$found" ]] && { printf '%s\n' "$found"; return 0; }
  for dir in "$@"; do
    [[ -x "$dir/$name" && -f "$dir/$name" ]] && { printf '%s\n' "$dir/$name"; return 0; }
  done
  return 0
}
find_etcd() { find_tool etcd ETCD_BIN /usr/bin /usr/local/bin /usr/sbin; }
find_nats() { find_tool nats-server NATS_SERVER_BIN /usr/sbin /usr/bin /usr/local/bin; }
find_etcdctl() { find_tool etcdctl ETCDCTL_BIN /usr/bin /usr/local/bin /usr/sbin; }

apt_install() { # <packages...>, as root or with passwordless sudo
  local sudo_cmd=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo_cmd=(sudo -n)
    else
      return 1
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  step "installing $* with apt-get"
  # Keep the packages' system services from starting during the install: a system etcd on 2379
  # or nats-server on 4222 would not collide with kubemu's ports, but nobody asked for them.
  # A policy-rc.d that denies every action does that, added only if the machine has none.
  local policy=/usr/sbin/policy-rc.d added_policy=no
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# temporary, from kubemu scripts/setup.sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
    added_policy=yes
  fi
  local rc=0
  {
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  } || rc=$?
  [[ "$added_policy" == yes ]] && "${sudo_cmd[@]}" rm -f "$policy"
  [[ $rc -eq 0 ]] || fail "apt-get install $* failed (exit $rc)"
}

ensure_infrastructure() {
  local var
  for var in ETCD_BIN NATS_SERVER_BIN; do
    if [[ -n "${!var:-}" && ! ( -x "${!var}" && -f "${!var}" ) ]]; then
      fail "$var=${!var} is not an executable file"
    fi
  done
  local missing=()
  [[ -n "$(find_etcd)" ]] || missing+=(etcd-server)
  [[ -n "$(find_nats)" ]] || missing+=(nats-server)
  if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}" ||
      fail "missing: ${missing[*]}. Install the Debian/Ubuntu packages (sudo apt-get install ${missing[*]}), or point ETCD_BIN and NATS_SERVER_BIN at etcd (3.4 or newer) and nats-server (2.9 or newer) binaries."
  fi
  local etcd_bin nats_bin etcd_version nats_version
  etcd_bin="$(find_etcd)"
  nats_bin="$(find_nats)"
  [[ -n "$etcd_bin" ]] || fail "etcd still not found after installing etcd-server (set ETCD_BIN)"
  [[ -n "$nats_bin" ]] || fail "nats-server still not found after installing nats-server (set NATS_SERVER_BIN)"
  etcd_version="$("$etcd_bin" --version 2>/dev/null | sed -n 's/^etcd Version: //p')"
  nats_version="$("$nats_bin" --version 2>/dev/null | sed -n 's/^nats-server: v\{0,1\}//p')"
  step "etcd ${etcd_version:-?} at $etcd_bin, nats-server ${nats_version:-?} at $nats_bin"
  # etcdctl (Debian package etcd-client) is needed only by npm run etcd:snapshot / etcd:restore:
  # installed when we can, a note otherwise.
  # (In a subshell: apt_install fails fatally, and this one must not stop npm start.)
  if [[ -z "$(find_etcdctl)" ]] && ! (apt_install etcd-client); then
    step "note: etcdctl not found (sudo apt-get install etcd-client, or set ETCDCTL_BIN) - needed only for etcd:snapshot and etcd:restore"
  fi
}

install_npm_dependencies() {
  local stamp=node_modules/.package-lock.json
  if [[ -d node_modules && -f "$stamp" && ! package-lock.json -nt "$stamp" ]]; then
    step "npm dependencies up to date"
    return 0
  fi
  step "installing npm dependencies (npm ci)"
  local log
  log="$(mktemp)"
  if ! npm ci --no-audit --no-fund --loglevel=error 2>"$log"; then
    # npm 11 rejects a lock file that lacks optional packages of other platforms when the
    # registry in use does not list them (e.g. @bufbuild/buf-darwin-arm64); `npm install`
    # installs exactly the locked versions for this platform without rewriting the lock.
    grep -m 3 -E 'npm error (code|Missing|`npm ci`)' "$log" | sed 's/^/setup:   /' || true
    step "npm ci refused the lock file; installing the locked versions with npm install"
    npm install --no-audit --no-fund --loglevel=error
  fi
  rm -f "$log"
}

tree_hash() { # <paths...>: one hash over the names and contents of every file below them
  find "$@" -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1
}

generate_code() {
  # Skipped when neither the inputs (proto/, the script, the locked plugin versions) nor the
  # output changed since the last generation; a stamp in dist/ remembers both hashes.
  local stamp=dist/.generate.stamp inputs outputs
  inputs="$(tree_hash proto scripts/generate.sh package-lock.json)"
  outputs="$(tree_hash services/lib/generated)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs $outputs" ]]; then
    step "generated code up to date"
    return 0
  fi
  step "generating code from proto/"
  bash scripts/generate.sh | sed 's/^/setup:   /'
  mkdir -p dist
  printf '%s %s\n' "$inputs" "$(tree_hash services/lib/generated)" > "$stamp"
}

build() {
  step "building into dist/ (tsc)"
  node_modules/.bin/tsc -p tsconfig.json --incremental --tsBuildInfoFile dist/.tsbuildinfo --pretty false ||
    fail "the TypeScript build failed (errors above)"
}

check_node
if [[ "${1:-}" == "--deps-only" ]]; then
  install_npm_dependencies
  exit 0
fi
ensure_infrastructure
install_npm_dependencies
generate_code
build
step "done"
