/**
 * The boot script of a lighthouse or proxy instance, as a pure function of its inputs so tests
 * can read it. It installs nebula (release tarball checked against the release's SHA-256 list)
 * and the bundled `gateway` command, registers the instance through `POST /v1/nodes/register`
 * (SigV4 with the instance role, via curl --aws-sigv4), writes what the API returns in the
 * layout `gateway agent enroll` leaves, and starts `gateway agent run` as a systemd unit; the
 * agent runs nebula and keeps its certificate and config fresh through the in-VPC gateway
 * server. The host key is generated here and never leaves the host.
 */
export interface NodeBootstrapInput {
  readonly role: 'lighthouse' | 'proxy';
  readonly region: string;
  /** The API Gateway URL (ending in `/`), for the IAM-authenticated registration. */
  readonly apiUrl: string;
  /** The in-VPC gateway server the agent talks to afterwards, e.g. `http://server.x.internal:8080`. */
  readonly agentApiUrl: string;
  readonly nebulaVersion: string;
  readonly cpu: 'arm64' | 'amd64';
  /** `s3://bucket/key` of the bundled gateway command. */
  readonly agentS3Url: string;
  /** Lighthouses only: Elastic IP allocation ids to try, in order, before registering. */
  readonly elasticIpAllocationIds?: readonly string[];
  /** cfn-signal target, so a rolling update waits for a registered, running instance. */
  readonly signal: { readonly stackName: string; readonly resource: string };
}

/** Where the API's configs say the key is (DEFAULT_KEY_PATH); a link to the agent's copy. */
export const NEBULA_KEY_LINK = '/etc/nebula/host.key';
export const AGENT_DIR = '/opt/nebula-gateway';
/** The agent's directory (`gateway agent run --dir`): key, certificate, config.yml, agent.json. */
export const AGENT_STATE_DIR = '/var/lib/nebula-gateway';

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
    `curl -fsSL -o ${tarball} ${release}/${tarball}`,
    `curl -fsSL -o SHASUM256.txt ${release}/SHASUM256.txt`,
    `grep " ${tarball}$" SHASUM256.txt | sha256sum -c -`,
    `tar -xzf ${tarball} -C /usr/local/bin nebula nebula-cert`,
    `aws s3 cp --region ${input.region} ${input.agentS3Url} ${AGENT_DIR}/gateway.js`,
    'IMDS_TOKEN=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" http://169.254.169.254/latest/api/token)',
    'imds() { curl -fsS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }',
    'INSTANCE_ID=$(imds instance-id)',
  ];
  if (input.elasticIpAllocationIds?.length) {
    // A replaced lighthouse's address is freed when the old instance terminates: keep trying.
    lines.push(
      'associated=""',
      'for attempt in $(seq 1 60); do',
      `  for alloc in ${input.elasticIpAllocationIds.join(' ')}; do`,
      `    if aws ec2 associate-address --region ${input.region} --instance-id "$INSTANCE_ID" --allocation-id "$alloc" --no-allow-reassociation >/dev/null 2>&1; then associated=$alloc; break 2; fi`,
      '  done',
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
    `cat > /etc/systemd/system/nebula-gateway-agent.service <<'UNIT'\n${agentUnit(input)}UNIT`,
    'systemctl daemon-reload',
    'systemctl enable --now nebula-gateway-agent.service',
  );
  return lines;
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
