import type { FleetRole } from '../config';

/**
 * The boot script of a lighthouse, proxy or egress instance, as a pure function of its inputs so tests
 * can read it. It installs nebula (release tarball checked against the release's SHA-256 list)
 * and the bundled `gateway` command, registers the instance through `POST /v1/nodes/register`
 * (SigV4 with the instance role, via curl --aws-sigv4), writes what the API returns in the
 * layout `gateway agent enroll` leaves, and starts `gateway agent run` as a systemd unit; the
 * agent runs nebula and keeps its certificate and config fresh through the in-VPC gateway
 * server. The host key is generated here and never leaves the host.
 */
export interface NodeBootstrapInput {
  readonly role: FleetRole;
  readonly region: string;
  /** The API Gateway URL (ending in `/`), for the IAM-authenticated registration. */
  readonly apiUrl: string;
  /** The in-VPC gateway server the agent talks to afterwards, e.g. `http://server.x.internal:8080`. */
  readonly agentApiUrl: string;
  readonly nebulaVersion: string;
  readonly cpu: 'arm64' | 'amd64';
  /** `s3://bucket/key` of the bundled gateway command. */
  readonly agentS3Url: string;
  /** Lighthouses and egress nodes: Elastic IP allocation ids to try, in order, before registering. */
  readonly elasticIpAllocationIds?: readonly string[];
  /** cfn-signal target, so a rolling update waits for a registered, running instance. */
  readonly signal: { readonly stackName: string; readonly resource: string };
  /** Proxies with a TLS certificate: also run `gateway proxy` (see proxyBootstrap). */
  readonly proxy?: ProxyBootstrapInput;
}

export interface ProxyBootstrapInput {
  /** The proxied domain: the certificate covers `*.<domain>`. */
  readonly domain: string;
  /** Secrets Manager secret holding `{"certificate": "<PEM chain>", "privateKey": "<PEM key>"}`. */
  readonly tlsSecretArn: string;
}

/** Where the API's configs say the key is (DEFAULT_KEY_PATH); a link to the agent's copy. */
export const NEBULA_KEY_LINK = '/etc/nebula/host.key';
export const AGENT_DIR = '/opt/nebula-gateway';
/** The agent's directory (`gateway agent run --dir`): key, certificate, config.yml, agent.json. */
export const AGENT_STATE_DIR = '/var/lib/nebula-gateway';
/** What `gateway proxy` reads, written afresh at each start (tmpfs): TLS files, token public key, environment. */
export const PROXY_RUN_DIR = '/run/nebula-gateway-proxy';
/** The proxy's own lasting state (systemd StateDirectory): the last route table, served when it starts without the control plane. */
export const PROXY_STATE_DIR = '/var/lib/nebula-gateway-proxy';
/** The unprivileged user `gateway proxy` runs as (port 443 through CAP_NET_BIND_SERVICE only). */
export const PROXY_USER = 'gateway-proxy';

/** curl's retries for downloads: exponential backoff (1 s, 2 s, 4 s, ... capped at 10 min overall), on any error. */
export const DOWNLOAD_RETRY = '--retry 8 --retry-all-errors --retry-max-time 600';

export function renderNodeBootstrap(input: NodeBootstrapInput): string[] {
  const release = `https://github.com/slackhq/nebula/releases/download/v${input.nebulaVersion}`;
  const tarball = `nebula-linux-${input.cpu}.tar.gz`;
  const lines = [
    'set -euo pipefail',
    `trap '/opt/aws/bin/cfn-signal -e $? --region ${input.region} --stack ${input.signal.stackName} --resource ${input.signal.resource} || true' EXIT`,
    'dnf install -y -q nodejs22 jq aws-cfn-bootstrap',
    `install -d -m 0700 /etc/nebula ${AGENT_STATE_DIR}`,
    `install -d -m 0755 ${AGENT_DIR}`,
    'cd "$(mktemp -d)"',
    `curl -fsSL ${DOWNLOAD_RETRY} -o ${tarball} ${release}/${tarball}`,
    `curl -fsSL ${DOWNLOAD_RETRY} -o SHASUM256.txt ${release}/SHASUM256.txt`,
    `grep " ${tarball}$" SHASUM256.txt | sha256sum -c -`,
    `tar -xzf ${tarball} -C /usr/local/bin nebula nebula-cert`,
    `aws s3 cp --region ${input.region} ${input.agentS3Url} ${AGENT_DIR}/gateway.js`,
    // A fresh IMDSv2 token for every read: the Elastic IP loop below can outlast any one token's TTL.
    'imds() {',
    '  local token',
    '  token=$(curl -fsS --retry 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" http://169.254.169.254/latest/api/token)',
    '  curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"',
    '}',
  ];
  if (input.elasticIpAllocationIds?.length) {
    // A replaced instance's address is freed when the old one terminates: keep trying.
    lines.push(
      'INSTANCE_ID=$(imds instance-id)',
      'associated=""',
      'for attempt in $(seq 1 60); do',
      `  for alloc in ${input.elasticIpAllocationIds.join(' ')}; do`,
      `    if aws ec2 associate-address --region ${input.region} --instance-id "$INSTANCE_ID" --allocation-id "$alloc" --no-allow-reassociation >/dev/null 2>&1; then associated=$alloc; break 2; fi`,
      '  done',
      `  echo "no free ${input.role} address yet (attempt $attempt of 60)"`,
      '  sleep 10',
      'done',
      'test -n "$associated"',
    );
  }
  const state = AGENT_STATE_DIR;
  lines.push(
    `(umask 077; nebula-cert keygen -out-key ${state}/host.key -out-pub ${state}/host.pub)`,
    `ln -sf ${state}/host.key ${NEBULA_KEY_LINK}`,
    'IAM_ROLE=$(imds iam/security-credentials/)',
    'CREDS=$(imds "iam/security-credentials/$IAM_ROLE")',
    `BODY=$(jq -n --arg role ${input.role} --rawfile publicKey ${state}/host.pub '{role: $role, publicKey: $publicKey}')`,
    `(umask 077; curl -fsS --retry 10 --retry-all-errors --aws-sigv4 "aws:amz:${input.region}:execute-api" ` +
      '--user "$(jq -r .AccessKeyId <<<"$CREDS"):$(jq -r .SecretAccessKey <<<"$CREDS")" ' +
      '-H "x-amz-security-token: $(jq -r .Token <<<"$CREDS")" -H "content-type: application/json" ' +
      `--data "$BODY" -o ${state}/register.json ${input.apiUrl}v1/nodes/register)`,
    `jq -r .certificate ${state}/register.json > ${state}/host.crt`,
    `jq -r .ca ${state}/register.json > ${state}/ca.crt`,
    `jq -r .config ${state}/register.json > ${state}/config.yml`,
    `(umask 077; jq --arg api ${input.agentApiUrl} '{api: $api, hostId, credential}' ${state}/register.json > ${state}/agent.json)`,
    `rm ${state}/register.json ${state}/host.pub`,
    `cat > /etc/systemd/system/${AGENT_UNIT} <<'UNIT'\n${agentUnit(input)}UNIT`,
    'systemctl daemon-reload',
    `systemctl enable --now ${AGENT_UNIT}`,
  );
  if (input.proxy) lines.push(...proxyBootstrap(input, input.proxy));
  return lines;
}

export const AGENT_UNIT = 'nebula-gateway-agent.service';
export const PROXY_UNIT = 'nebula-gateway-proxy.service';

/** A file the boot script writes, as the instance will hold it: for tests (shellcheck, systemd-analyze). */
export interface RenderedFile {
  readonly path: string;
  readonly text: string;
}

/**
 * Every file the boot script writes through a quoted here-document (units and scripts), read back
 * from the rendered lines: what tests check is exactly what the instance gets.
 */
export function renderedFiles(lines: readonly string[]): RenderedFile[] {
  const files: RenderedFile[] = [];
  for (const match of lines.join('\n').matchAll(/cat > (\S+) <<'([A-Z]+)'\n([\s\S]*?)\2(?:\n|$)/g)) {
    files.push({ path: match[1], text: match[3] });
  }
  return files;
}

/**
 * `gateway proxy` beside the agent, as a systemd unit. Before each start, as root, a prepare step
 * fetches the TLS certificate and key from Secrets Manager, the access token public key from
 * `GET /v1/network` (API Gateway's open route), and this proxy's host id and credential from the
 * agent's agent.json into files under PROXY_RUN_DIR; a run script (as the unprivileged user)
 * reads them and execs `gateway proxy`, which long-polls the in-VPC server's
 * `/v1/routes?host=<hostId>` with its credential. No EnvironmentFile: systemd loads one before
 * every command, ExecStartPre included, so a file the prepare step writes could never be one.
 * Restarting the unit picks up a new certificate.
 */
function proxyBootstrap(input: NodeBootstrapInput, proxy: ProxyBootstrapInput): string[] {
  return [
    `id -u ${PROXY_USER} >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin ${PROXY_USER}`,
    `cat > ${PROXY_PREPARE_SCRIPT} <<'PREPARE'\n${proxyPrepareScript(input)}PREPARE`,
    `cat > ${PROXY_RUN_SCRIPT} <<'RUN'\n${proxyRunScript(proxy)}RUN`,
    `chmod 0700 ${PROXY_PREPARE_SCRIPT}`,
    `chmod 0755 ${PROXY_RUN_SCRIPT}`,
    `cat > /etc/systemd/system/${PROXY_UNIT} <<'UNIT'\n${proxyUnit(proxy)}UNIT`,
    'systemctl daemon-reload',
    `systemctl enable --now ${PROXY_UNIT}`,
  ];
}

export const PROXY_PREPARE_SCRIPT = `${AGENT_DIR}/proxy-prepare.sh`;
export const PROXY_RUN_SCRIPT = `${AGENT_DIR}/proxy-run.sh`;

function proxyPrepareScript(input: NodeBootstrapInput): string {
  const run = PROXY_RUN_DIR;
  return `#!/bin/bash
# Runs as root before each start of ${PROXY_UNIT}; nothing here is logged.
set -euo pipefail
install -d -m 0750 -o root -g ${PROXY_USER} ${run}
umask 027
# The access token key rarely changes: with the API unreachable, the one of the last start (if any) serves.
if curl -fsS --retry 10 --retry-all-errors ${input.apiUrl}v1/network | jq -er .accessTokenPublicKey > ${run}/token.pub.new; then
  mv ${run}/token.pub.new ${run}/token.pub
else
  rm -f ${run}/token.pub.new
  test -s ${run}/token.pub
fi
host_id=$(jq -er .hostId ${AGENT_STATE_DIR}/agent.json)
printf '%s\\n' "${input.agentApiUrl}/v1/routes?host=$host_id" > ${run}/routes-url
jq -er .credential ${AGENT_STATE_DIR}/agent.json > ${run}/routes-token
chgrp ${PROXY_USER} ${run}/token.pub ${run}/routes-url ${run}/routes-token
`;
}

function proxyRunScript(proxy: ProxyBootstrapInput): string {
  const run = PROXY_RUN_DIR;
  return `#!/bin/bash
# Runs as ${PROXY_USER} (ExecStart of ${PROXY_UNIT}): the files proxy-prepare.sh wrote, then gateway proxy,
# which reads its TLS pair from the secret itself, at start and every 15 min, so a renewed
# certificate serves new connections without a restart.
set -euo pipefail
routes_url=$(<${run}/routes-url)
GATEWAY_ROUTES_TOKEN=$(<${run}/routes-token)
export GATEWAY_ROUTES_TOKEN
exec /usr/bin/node-22 ${AGENT_DIR}/gateway.js proxy --domain ${proxy.domain} --tls-secret ${proxy.tlsSecretArn} --token-public-key ${run}/token.pub --routes "$routes_url" --listen 0.0.0.0:443 --state-dir ${PROXY_STATE_DIR}
`;
}

function proxyUnit(proxy: ProxyBootstrapInput): string {
  return `[Unit]
Description=Nebula gateway proxy: https://<port>--<hostId>.${proxy.domain} to environments over nebula
Wants=network-online.target ${AGENT_UNIT}
After=network-online.target ${AGENT_UNIT}

[Service]
User=${PROXY_USER}
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
StateDirectory=${PROXY_STATE_DIR.replace('/var/lib/', '')}
StateDirectoryMode=0700
ExecStartPre=+${PROXY_PREPARE_SCRIPT}
ExecStart=${PROXY_RUN_SCRIPT}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
`;
}

function agentUnit(input: NodeBootstrapInput): string {
  return `[Unit]
Description=Nebula gateway agent: runs nebula as this ${input.role}, keeps its certificate and config fresh
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/node-22 ${AGENT_DIR}/gateway.js agent run --dir ${AGENT_STATE_DIR} --nebula /usr/local/bin/nebula --log-format json
KillMode=mixed
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
`;
}
