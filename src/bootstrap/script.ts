/** What the bootstrap script pins: where the API is, and which agent bundle it installs. */
export interface BootstrapScriptInput {
  /** The API the environment enrolls with and the agent talks to (no trailing slash). */
  readonly apiUrl: string;
  /** The gateway version the agent bundle was built from. */
  readonly version: string;
  /** Where the bundle is downloaded from (`<apiUrl>/v1/agent/<file>`). */
  readonly agentUrl: string;
  /** Lowercase hex SHA-256 the downloaded bundle must have. */
  readonly sha256: string;
}

/** Where the script installs the agent and its state; each written once, here. */
export const BOOTSTRAP_PATHS = {
  libDir: '/usr/local/lib/gateway-agent',
  wrapper: '/usr/local/bin/gateway-agent',
  unitDir: '/etc/systemd/system',
  stateDir: '/var/lib/gateway-agent',
} as const;

/** The script's exit statuses (foreground mode: the agent's own once it runs). */
export const BOOTSTRAP_EXIT = { usage: 2, prerequisites: 3, checksum: 4, failed: 5 } as const;

/** The oldest nebula series and Node.js major the agent runs with. */
export const NEBULA_SERIES = '1.6';
export const NODE_MIN_MAJOR = 20;

/** A value the script pins could break out of its quotes, or is not what it claims. */
export class BootstrapInputError extends Error {
  override readonly name = 'BootstrapInputError';
}

/** Single-quoted for sh. Pure. */
export function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function checkInput(input: BootstrapScriptInput): void {
  for (const [field, value] of Object.entries({ apiUrl: input.apiUrl, agentUrl: input.agentUrl })) {
    // Printable ASCII without quotes, backslashes or spaces: the URLs also appear in messages.
    if (!/^https?:\/\/[\x21-\x7e]+$/.test(value) || /['"\\`$]/.test(value)) throw new BootstrapInputError(`${field} must be an http(s) URL of plain characters, not ${JSON.stringify(value)}`);
  }
  if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw new BootstrapInputError('sha256 must be 64 lowercase hex digits');
  if (!/^[0-9A-Za-z.+-]{1,64}$/.test(input.version)) throw new BootstrapInputError(`version must be a package version, not ${JSON.stringify(input.version)}`);
}

/** Where the script also takes the enrollment token from (dev containers, user data). */
export const ENROLL_TOKEN_ENV = 'GATEWAY_ENROLL_TOKEN';

/**
 * The POSIX sh script `GET /v1/bootstrap` serves: `curl -fsSL <api>/v1/bootstrap | sudo sh -s --
 * --token-file PATH`. The token comes from that file, from GATEWAY_ENROLL_TOKEN or from `--token`
 * (in every local user's `ps` while it runs); two sources that disagree are a usage error. It
 * checks the prerequisites (naming each missing one), downloads the agent bundle and refuses it
 * unless its SHA-256 is the pinned one, installs it with a wrapper, enrolls once per directory,
 * then runs the agent as a systemd unit where systemd runs (/run/systemd/system, as sd_booted(3)
 * tests) or in the foreground (exec). Every file is written only when its content changes, so a
 * second run changes nothing. Pure: same input, same script.
 */
export function renderBootstrapScript(input: BootstrapScriptInput): string {
  checkInput(input);
  const { libDir, wrapper, unitDir, stateDir } = BOOTSTRAP_PATHS;
  const exit = BOOTSTRAP_EXIT;
  return `#!/bin/sh
# nebula-gateway environment bootstrap, served by the gateway at ${input.apiUrl}/v1/bootstrap
# (gateway-agent ${input.version}). Run it as root:
#   curl -fsSL ${input.apiUrl}/v1/bootstrap | sudo sh -s -- --token-file PATH [--name NAME] [--dir DIR]
# with the one-time enrollment token (gwe_...) in PATH (mode 0600), or in ${ENROLL_TOKEN_ENV}
# (a container's or user data's environment), or as --token gwe_... (then every local user can
# read it with ps while this runs).
# It checks the prerequisites, downloads the agent bundle and verifies its SHA-256 (pinned
# below), installs it (${libDir}/agent.js and the ${wrapper} wrapper), enrolls
# once (a --dir that holds an enrolled host is kept), then runs the agent: as a systemd unit where
# systemd runs, else in the foreground. Running it again changes nothing.
# Exit status: 0 done, ${exit.usage} usage, ${exit.prerequisites} missing prerequisites, ${exit.checksum} agent checksum mismatch,
# ${exit.failed} download or enrollment failed; in the foreground, the agent's own once it runs.
set -eu

GATEWAY_API=${shQuote(input.apiUrl)}
AGENT_VERSION=${shQuote(input.version)}
AGENT_URL=${shQuote(input.agentUrl)}
AGENT_SHA256=${shQuote(input.sha256)}

LIB_DIR=${libDir}
WRAPPER=${wrapper}
UNIT_DIR=${unitDir}

say() { printf 'gateway-bootstrap: %s\\n' "$*" >&2; }
die() {
  status=$1
  shift
  say "$*"
  exit "$status"
}

usage() {
  cat <<EOF
Usage: curl -fsSL $GATEWAY_API/v1/bootstrap | sudo sh -s -- --token-file PATH [--name NAME] [--dir DIR]

The host's one-time enrollment token (gwe_...), not needed once DIR is enrolled, from one of:
  --token-file PATH     a file only its owner can read (chmod 600), read once
  ${ENROLL_TOKEN_ENV}  in the environment (a container's, user data's; sudo drops it)
  --token TOKEN         on the command line: every local user can read it with ps while this runs

  --name NAME    the systemd unit is gateway-agent-NAME.service and DIR defaults to
                 ${stateDir}-NAME (several hosts on one machine); default
                 gateway-agent.service and ${stateDir}
  --dir DIR      the agent's directory: host key, certificate, nebula config
  --print-unit   print the systemd unit this would install, then exit
EOF
}

unit_text() {
  cat <<EOF
[Unit]
Description=nebula-gateway agent: runs nebula for the host enrolled in $dir, keeps its certificate and config current
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=$WRAPPER run --dir $dir --nebula $1 --log-format json
KillMode=mixed
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
EOF
}

# Every missing prerequisite is named at once, with what to do about it.
need() {
  missing="$missing
  - $*"
}

# install_file PATH MODE: installs stdin at PATH unless PATH already has that content.
install_file() {
  cat >"$work/candidate"
  if [ -f "$1" ] && cmp -s "$work/candidate" "$1"; then
    return 0
  fi
  mkdir -p "$(dirname "$1")"
  cp "$work/candidate" "$1.new"
  chmod "$2" "$1.new"
  mv -f "$1.new" "$1"
  say "installed $1"
  changed=1
}

sha256_of() { sha256sum "$1" | cut -d ' ' -f 1; }

# check_token SOURCE VALUE: a usage error naming SOURCE unless VALUE is empty or an enrollment
# token. VALUE is never printed.
check_token() {
  case $2 in
    '' | gwe_?*) ;;
    *) die ${exit.usage} "$1 must be an enrollment token (gwe_...)" ;;
  esac
  case \${2#gwe_} in
    *[!A-Za-z0-9_-]*) die ${exit.usage} "$1 is malformed: an enrollment token is gwe_ followed by letters, digits, '_' and '-'" ;;
  esac
}

# read_token_file PATH: prints the token in PATH (one line). Refuses a file that group or others
# may read: the file form exists to keep the token from other local users, and a readable file
# already gave it away (the group bits are the ACL mask when an ACL grants anyone else access).
read_token_file() {
  [ -n "$1" ] || die ${exit.usage} "--token-file needs a path"
  mode=$(ls -ldL -- "$1" 2>/dev/null) || die ${exit.usage} "--token-file $1: no such file"
  case $mode in
    d*) die ${exit.usage} "--token-file $1 is a directory" ;;
    ????r* | ???????r*) die ${exit.usage} "--token-file $1 can be read by other users (\${mode%% *}): make it readable by its owner only (chmod 600 $1); if someone else may have read it, use a new token" ;;
  esac
  # Read once, here; the command substitution drops the trailing newline.
  content=$(cat -- "$1" 2>/dev/null) || die ${exit.usage} "--token-file $1 cannot be read"
  [ -n "$content" ] || die ${exit.usage} "--token-file $1 is empty"
  check_token "the token in --token-file $1" "$content"
  printf '%s' "$content"
}

# refuse_two A A_VALUE B B_VALUE: two sources that give different tokens are refused rather than
# ranked, since either could be the stale one.
refuse_two() {
  if [ -n "$2" ] && [ -n "$4" ] && [ "$2" != "$4" ]; then
    die ${exit.usage} "$1 and $3 give different tokens: give one"
  fi
}

wrapper_text() {
  cat <<EOF
#!/bin/sh
# Installed by the nebula-gateway bootstrap script ($GATEWAY_API/v1/bootstrap).
exec $1 $LIB_DIR/agent.js "\\$@"
EOF
}

# Everything runs from here: a script cut short in transit (curl | sh) only defines functions.
main() {
  token=
  token_file=
  token_file_given=
  name=
  dir=
  print_unit=
  while [ "$#" -gt 0 ]; do
    case $1 in
      --token | --token-file | --name | --dir)
        [ "$#" -ge 2 ] || die ${exit.usage} "$1 needs a value"
        case $1 in
          --token) token=$2 ;;
          --token-file) token_file=$2 && token_file_given=1 ;;
          --name) name=$2 ;;
          --dir) dir=$2 ;;
        esac
        shift 2
        ;;
      --token=*) token=\${1#*=} && shift ;;
      --token-file=*) token_file=\${1#*=} && token_file_given=1 && shift ;;
      --name=*) name=\${1#*=} && shift ;;
      --dir=*) dir=\${1#*=} && shift ;;
      --print-unit) print_unit=1 && shift ;;
      -h | --help) usage && exit 0 ;;
      *)
        usage >&2
        die ${exit.usage} "unknown argument '$1'"
        ;;
    esac
  done

  case $name in
    '') unit=gateway-agent.service ;;
    -* | *[!a-z0-9-]*) die ${exit.usage} "--name must be lowercase letters, digits and '-' (it names a systemd unit), not '$name'" ;;
    *) unit=gateway-agent-$name.service ;;
  esac
  [ "\${#name}" -le 32 ] || die ${exit.usage} "--name must be at most 32 characters"
  dir=\${dir:-${stateDir}\${name:+-$name}}
  case $dir in
    /*) ;;
    *) die ${exit.usage} "--dir must be an absolute path, not '$dir'" ;;
  esac
  # One spelling per directory: the unit and the running-agent check compare it as text.
  while [ "$dir" != / ] && [ "\${dir%/}" != "$dir" ]; do
    dir=\${dir%/}
  done
  case $dir in
    *[!A-Za-z0-9/._-]*) die ${exit.usage} "--dir may hold only letters, digits, '/', '.', '_' and '-' (it is written into a systemd unit)" ;;
    */../* | */.. | */./* | */. | *//*) die ${exit.usage} "--dir must be a plain absolute path (no '.', '..' or '//'), not '$dir'" ;;
  esac
  check_token --token "$token"
  env_token=\${${ENROLL_TOKEN_ENV}:-}
  # Only the enroll command below gets the token: not the agent, which runs for good.
  unset ${ENROLL_TOKEN_ENV}
  check_token ${ENROLL_TOKEN_ENV} "$env_token"
  file_token=
  if [ -n "$token_file_given" ]; then
    file_token=$(read_token_file "$token_file") || exit $?
  fi
  refuse_two --token "$token" --token-file "$file_token"
  refuse_two --token "$token" ${ENROLL_TOKEN_ENV} "$env_token"
  refuse_two --token-file "$file_token" ${ENROLL_TOKEN_ENV} "$env_token"
  token=\${token:-\${file_token:-$env_token}}

  if [ -n "$print_unit" ]; then
    unit_text "$(command -v nebula || echo /usr/bin/nebula)"
    exit 0
  fi

  missing=
  [ "$(id -u)" = 0 ] || need "root: run this script as root (... | sudo sh -s -- ...)"
  for tool in curl sha256sum cmp mktemp; do
    command -v "$tool" >/dev/null 2>&1 || need "$tool: not found on PATH"
  done
  nebula_bin=$(command -v nebula 2>/dev/null || true)
  if [ -z "$nebula_bin" ]; then
    need "nebula ${NEBULA_SERIES}.x: not found on PATH (Debian/Ubuntu: apt-get install nebula; or a release from https://github.com/slackhq/nebula/releases)"
  else
    nebula_version=$("$nebula_bin" -version 2>/dev/null | sed -n 's/^Version: *//p' || true)
    case $nebula_version in
      ${NEBULA_SERIES}.*) ;;
      *) need "nebula ${NEBULA_SERIES}.x: $nebula_bin is version '\${nebula_version:-unknown}'" ;;
    esac
  fi
  node_bin=$(command -v node 2>/dev/null || true)
  if [ -z "$node_bin" ]; then
    need "Node.js >= ${NODE_MIN_MAJOR}: node not found on PATH (Debian 13, Ubuntu 24.04: apt-get install nodejs; else https://nodejs.org)"
  else
    node_version=$("$node_bin" --version 2>/dev/null || true)
    node_major=\${node_version#v}
    node_major=\${node_major%%.*}
    case $node_major in
      '' | *[!0-9]*) need "Node.js >= ${NODE_MIN_MAJOR}: $node_bin --version printed '$node_version'" ;;
      *) [ "$node_major" -ge ${NODE_MIN_MAJOR} ] || need "Node.js >= ${NODE_MIN_MAJOR}: $node_bin is $node_version" ;;
    esac
  fi
  for found in "$nebula_bin" "$node_bin"; do
    case $found in
      '' | /*) ;;
      *) need "an absolute PATH: $found was found through a relative PATH entry" ;;
    esac
  done
  [ -c /dev/net/tun ] || need "/dev/net/tun: no TUN device (in a container: --device /dev/net/tun)"
  cap_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status 2>/dev/null || true)
  case $cap_eff in
    '' | *[!0-9a-fA-F]*) ;;
    *) [ $((0x$cap_eff >> 12 & 1)) = 1 ] || need "CAP_NET_ADMIN: nebula cannot set up its tun interface (in a container: --cap-add NET_ADMIN)" ;;
  esac
  [ -z "$missing" ] || die ${exit.prerequisites} "missing prerequisites:$missing"
  [ -n "$token" ] || [ -f "$dir/agent.json" ] || die ${exit.usage} "an enrollment token is required (--token-file PATH, or ${ENROLL_TOKEN_ENV} in the environment: sudo drops it): $dir holds no enrolled host yet"
  case $GATEWAY_API in
    https://*) curl_proto='=https' ;;
    *)
      curl_proto='=http,https'
      say "warning: $GATEWAY_API is plain HTTP: the token, the agent and its credential cross the network unencrypted"
      ;;
  esac

  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  changed=

  if [ -f "$LIB_DIR/agent.js" ] && [ "$(sha256_of "$LIB_DIR/agent.js")" = "$AGENT_SHA256" ]; then
    say "gateway-agent $AGENT_VERSION is installed"
  else
    say "downloading gateway-agent $AGENT_VERSION from $AGENT_URL"
    curl -fsSL --proto "$curl_proto" -o "$work/agent.js" "$AGENT_URL" || die ${exit.failed} "could not download the agent from $AGENT_URL"
    actual=$(sha256_of "$work/agent.js")
    [ "$actual" = "$AGENT_SHA256" ] || die ${exit.checksum} "agent bundle checksum mismatch: $AGENT_URL has SHA-256 $actual, the script pins $AGENT_SHA256; refusing to install it (nothing was installed). Fetch the script again from the gateway; if this persists, something between this machine and the gateway alters what it serves."
    install_file "$LIB_DIR/agent.js" 0644 <"$work/agent.js"
  fi
  wrapper_text "$node_bin" >"$work/wrapper"
  install_file "$WRAPPER" 0755 <"$work/wrapper"

  if [ -f "$dir/agent.json" ]; then
    say "$dir already holds an enrolled host: not enrolling again"
  else
    say "enrolling with $GATEWAY_API into $dir"
    ${ENROLL_TOKEN_ENV}=$token "$WRAPPER" enroll --api "$GATEWAY_API" --dir "$dir" || die ${exit.failed} "enrollment failed (the agent said why above)"
  fi

  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    unit_changed=$changed
    changed=
    unit_text "$nebula_bin" >"$work/unit"
    install_file "$UNIT_DIR/$unit" 0644 <"$work/unit"
    [ -z "$changed" ] || systemctl daemon-reload
    changed=$changed$unit_changed
    if [ -n "$changed" ] && systemctl is-active --quiet "$unit"; then
      systemctl enable "$unit"
      systemctl restart "$unit"
    else
      systemctl enable --now "$unit"
    fi
    say "the agent runs as $unit (journalctl -u $unit)"
    exit 0
  fi

  # No systemd (a dev container): the agent runs in the foreground, unless one already runs for DIR.
  if [ -f "$dir/agent.pid" ]; then
    running=$(cat "$dir/agent.pid")
    case $running in
      '' | *[!0-9]*) ;;
      *)
        if tr '\\000' ' ' <"/proc/$running/cmdline" 2>/dev/null | grep -qF -e "$LIB_DIR/agent.js run --dir $dir "; then
          if [ -n "$changed" ]; then
            say "the agent for $dir runs (pid $running) the previous version: stop it, then run this again to start $AGENT_VERSION"
          else
            say "the agent for $dir already runs (pid $running): nothing to start"
          fi
          exit 0
        fi
        ;;
    esac
  fi
  echo "$$" >"$dir/agent.pid"
  say "running the agent in the foreground (no systemd)"
  rm -rf "$work"
  trap - EXIT
  exec "$WRAPPER" run --dir "$dir" --nebula "$nebula_bin"
}

main "$@"
`;
}
