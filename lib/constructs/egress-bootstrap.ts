/**
 * What an egress instance's boot script does besides what every node does (node-bootstrap.ts:
 * nebula, the agent, registration as `egress`, the Elastic IP): a pure function of its inputs so
 * tests read exactly what the instance gets. It turns the instance into a router for the
 * environments' traffic: the source/destination check off (on itself only: the role allows no
 * other instance), IPv4 forwarding on, nftables and conntrack installed, and `gateway egress run`
 * beside the agent as a systemd unit. That command fetches the organisations' egress rules from
 * the gateway, applies them with nftables (forwarding and masquerade, so replies come back to this
 * instance and no VPC route table has to know the overlay), and writes one JSON line per flow to
 * its standard output; the unit appends that to EGRESS_FLOW_LOG, which the CloudWatch agent ships
 * to the flow log group (one stream per instance) and logrotate keeps small.
 */
export interface EgressBootstrapInput {
  readonly region: string;
  /** CloudWatch Logs group of the flow log (a token in the template, the name at deploy). */
  readonly flowLogGroupName: string;
  /** The agent's directory (`--dir`): agent.json with the gateway's URL and this node's credential. */
  readonly agentStateDir: string;
  /** Where the bundled `gateway` command was put (`<dir>/gateway.js`). */
  readonly agentDir: string;
  /** The agent's unit: the egress unit starts after it (nebula must be up to forward anything). */
  readonly agentUnit: string;
}

export const EGRESS_UNIT = 'nebula-gateway-egress.service';
/** One JSON line per flow, appended by systemd from the egress unit's standard output. */
export const EGRESS_FLOW_LOG = '/var/log/nebula-gateway/egress-flows.log';
export const EGRESS_SYSCTL_FILE = '/etc/sysctl.d/90-nebula-gateway-egress.conf';
export const EGRESS_LOGROTATE_FILE = '/etc/logrotate.d/nebula-gateway-egress';
export const CLOUDWATCH_AGENT_CONFIG = '/opt/aws/amazon-cloudwatch-agent/etc/nebula-gateway-egress.json';
const CLOUDWATCH_AGENT_CTL = '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl';

export function renderEgressBootstrap(input: EgressBootstrapInput): string[] {
  const logDir = EGRESS_FLOW_LOG.slice(0, EGRESS_FLOW_LOG.lastIndexOf('/'));
  return [
    'dnf install -y -q nftables conntrack-tools amazon-cloudwatch-agent logrotate',
    // A router forwards packets that are neither from nor to its own address: EC2 drops those
    // unless the check is off. The role may do this to the calling instance only.
    `aws ec2 modify-instance-attribute --region ${input.region} --instance-id "$(imds instance-id)" --no-source-dest-check`,
    `cat > ${EGRESS_SYSCTL_FILE} <<'SYSCTL'\n${egressSysctl()}SYSCTL`,
    `sysctl -p ${EGRESS_SYSCTL_FILE}`,
    `install -d -m 0750 ${logDir}`,
    `install -m 0640 /dev/null ${EGRESS_FLOW_LOG}`,
    `cat > ${EGRESS_LOGROTATE_FILE} <<'LOGROTATE'\n${egressLogrotate()}LOGROTATE`,
    `cat > ${CLOUDWATCH_AGENT_CONFIG} <<'CWAGENT'\n${cloudWatchAgentConfig(input)}CWAGENT`,
    `${CLOUDWATCH_AGENT_CTL} -a fetch-config -m ec2 -s -c file:${CLOUDWATCH_AGENT_CONFIG}`,
    `cat > /etc/systemd/system/${EGRESS_UNIT} <<'UNIT'\n${egressUnit(input)}UNIT`,
    'systemctl daemon-reload',
    `systemctl enable --now ${EGRESS_UNIT}`,
  ];
}

function egressSysctl(): string {
  return `# nebula-gateway egress: forward environments' packets from the nebula interface to the VPC and beyond.
net.ipv4.ip_forward = 1
`;
}

/** copytruncate: systemd keeps the file open for appending; the CloudWatch agent notices the truncation. */
function egressLogrotate(): string {
  return `${EGRESS_FLOW_LOG} {
    daily
    maxsize 100M
    rotate 3
    compress
    missingok
    notifempty
    copytruncate
}
`;
}

function cloudWatchAgentConfig(input: EgressBootstrapInput): string {
  const config = {
    agent: { run_as_user: 'root' },
    logs: {
      logs_collected: {
        files: {
          collect_list: [{ file_path: EGRESS_FLOW_LOG, log_group_name: input.flowLogGroupName, log_stream_name: '{instance_id}', timezone: 'UTC' }],
        },
      },
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * Root, because nftables and conntrack need CAP_NET_ADMIN (the only capability kept) and agent.json
 * is root's; the file system is read-only but for the agent's directory (the last rules it saved,
 * applied at start when the gateway does not answer) and /proc/sys (forwarding, conntrack accounting).
 * Flow lines go to the log file, the command's own messages (stderr) to the journal.
 */
function egressUnit(input: EgressBootstrapInput): string {
  return `[Unit]
Description=Nebula gateway egress: environments' traffic to the egress routes, within their organisation's policy
Wants=network-online.target ${input.agentUnit}
After=network-online.target ${input.agentUnit}

[Service]
ExecStart=/usr/bin/node-22 ${input.agentDir}/gateway.js egress run --dir ${input.agentStateDir} --log-format json
StandardOutput=append:${EGRESS_FLOW_LOG}
StandardError=journal
CapabilityBoundingSet=CAP_NET_ADMIN
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=${input.agentStateDir}
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
`;
}
