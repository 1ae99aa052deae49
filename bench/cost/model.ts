/**
 * The control plane's monthly cost as a pure function of list prices, the deployment's resources,
 * the DynamoDB capacity each API operation was measured to consume, and the request mix below.
 * docs/cost.md explains every term.
 */

export interface Prices {
  readonly hoursPerMonth: number;
  readonly apiGatewayRestPerMillionRequests: number;
  readonly lambdaArmPerGbSecond: number;
  readonly lambdaPerMillionRequests: number;
  readonly fargateArmPerVcpuHour: number;
  readonly fargateArmPerGbHour: number;
  readonly nlbPerHour: number;
  readonly nlbPerLcuHour: number;
  readonly natGatewayPerHour: number;
  readonly natGatewayPerGbProcessed: number;
  readonly dynamodbOnDemandPerMillionWriteUnits: number;
  readonly dynamodbOnDemandPerMillionReadUnits: number;
  readonly dynamodbStoragePerGbMonth: number;
  readonly kmsPerKeyMonth: number;
  readonly kmsAsymmetricPer10kRequests: number;
  readonly cloudwatchLogsIngestPerGb: number;
  readonly cloudwatchAlarmPerMonth: number;
  readonly cloudwatchDashboardPerMonth: number;
  readonly dataTransferOutToInternetPerGb: number;
  readonly secretsManagerPerSecretMonth: number;
  readonly route53HostedZonePerMonth: number;
  readonly ec2PerHour: Readonly<Record<string, number>>;
  readonly ebsGp3PerGbMonth: number;
  /** Every public IPv4 address (Elastic IPs, in use or idle), per hour. */
  readonly publicIpv4PerHour: number;
  /** Data between Availability Zones in a region, per GB in each direction. */
  readonly interAzPerGbEachWay: number;
}

/** What the CDK app deploys (lib/config defaults unless given). */
export interface Deployment {
  readonly certificateLifetimeHours: number;
  readonly lambdaMemoryGb: number;
  readonly serverDesiredCount: number;
  readonly natGateways: number;
  /** Availability Zones of the VPC: the internet-facing NLB holds one public IPv4 address in each. */
  readonly availabilityZones: number;
  /** The created VPC has a DynamoDB gateway endpoint: the server's table calls skip the NAT gateway. */
  readonly dynamodbGatewayEndpoint: boolean;
  readonly proxies: { readonly count: number; readonly instanceType: string };
  readonly lighthouses: { readonly count: number; readonly instanceType: string };
  /** The egress fleet (`gateway.egress`: off by default; the model prices it as enabled with its defaults), one Elastic IP a node. */
  readonly egress: { readonly count: number; readonly instanceType: string };
  /** `caNextKey`: the next CA key (a second KMS key) exists while a CA rotation is prepared. */
  readonly caNextKey: boolean;
}

/** DynamoDB capacity units one API operation consumed (measured). */
export interface OperationCapacity {
  readonly read: number;
  readonly write: number;
}

export type Operation = 'create' | 'enroll' | 'firstConfig' | 'watchRepoll' | 'lastSeen' | 'renew' | 'portChange' | 'routeDelta' | 'revoke' | 'versionPoll' | 'egressPoll';
export type MeasuredMix = Readonly<Record<Operation, OperationCapacity>>;

/** The request mix and sizing assumptions; each is printed with the table and explained in docs/cost.md. */
export interface Assumptions {
  /** Agents renew at two thirds of the certificate's life. */
  readonly renewAtFraction: number;
  /** A watch is re-requested this often (the agent's long-poll `wait`). */
  readonly watchRepollSeconds: number;
  /** Connected hosts one server task holds (0.25 vCPU, 0.5 GB): `watchersPerTask()` from the measured RSS below unless given. */
  readonly watchersPerTask: number;
  /** `npm run bench watch` (2026-12-02): one process's RSS before any watcher, and what each watcher adds (10,000: 125 → 294 MiB). */
  readonly rssBaseMiB: number;
  readonly rssPerWatcherKiB: number;
  /** Share of a task's memory the watchers may fill; the rest absorbs revocation fan-out, a reconnect storm and GC. */
  readonly taskMemoryFill: number;
  /** Measured CPU of 10,000 idle watchers: 6 ms a second, 2.4% of a 0.25 vCPU task, so memory, not CPU, sizes the tasks. */
  readonly idleCpuMsPerSecond: number;
  readonly taskVcpu: number;
  readonly taskGb: number;
  /** Server tasks at least (two for availability). */
  readonly minServerTasks: number;
  /** Version item reads per task per second: two change feeds (config, routes), each polling every 500 ms. */
  readonly versionPollsPerTaskSecond: number;
  /** Hosts created, enrolled and revoked per connected host per month (environments come and go). */
  readonly churnPerHostMonth: number;
  readonly portChangesPerHostMonth: number;
  /** Bytes to the internet per watch re-request (the 304 answer, TLS records included). */
  readonly bytesOutPerRepoll: number;
  /** Bytes to each connected host per revocation (issue 11's target: at most 1 KB). */
  readonly bytesPerWatcherPerRevocation: number;
  /** Bytes of a renewal or enrollment answer (certificate + config). */
  readonly bytesPerRenewal: number;
  /** Lambda time per short call (enroll, renew, admin), including a KMS signature. */
  readonly lambdaSecondsPerCall: number;
  /** CloudWatch log bytes per API call (API Gateway access log + the function's line). */
  readonly logBytesPerApiCall: number;
  /** Watch connections are re-opened this often (NLB new flows). */
  readonly connectionSeconds: number;
  readonly storageBytesPerHost: number;
  /** An agent's call is written down (last seen) at most once per this interval (src/api/last-seen.ts); a watching agent calls every 55 s, so once per interval. */
  readonly lastSeenIntervalSeconds: number;
  /** Each egress node polls the rules feed this often (`gateway egress run --poll-seconds`, default 2), from inside the VPC to the server. */
  readonly egressPollSeconds: number;
  /** Bytes of an unchanged (304) feed poll, request and answer (plain HTTP to the server's Cloud Map name). */
  readonly bytesPerEgressPoll: number;
  /** Share of egress polls that cross an Availability Zone (node and task in different AZs: half, with two of each). */
  readonly egressPollCrossAzShare: number;
  /** Customer-managed KMS keys always there: the CA key and the access-token signing key (lib/constructs/ca-key.ts). */
  readonly kmsKeys: number;
  readonly secrets: number;
  readonly alarms: number;
  readonly ebsGbPerInstance: number;
}

/** Watchers that fit in `taskMemoryFill` of a task's memory at the measured RSS, in whole thousands. */
export function watchersPerTask(a: Pick<Assumptions, 'taskGb' | 'taskMemoryFill' | 'rssBaseMiB' | 'rssPerWatcherKiB'>): number {
  const budgetKiB = (a.taskGb * 1024 * a.taskMemoryFill - a.rssBaseMiB) * 1024;
  return Math.floor(budgetKiB / a.rssPerWatcherKiB / 1000) * 1000;
}

const MEASURED_TASK = { taskVcpu: 0.25, taskGb: 0.5, rssBaseMiB: 125, rssPerWatcherKiB: 17.3, taskMemoryFill: 0.75, idleCpuMsPerSecond: 6 };

export const DEFAULT_ASSUMPTIONS: Assumptions = {
  renewAtFraction: 2 / 3,
  watchRepollSeconds: 55,
  ...MEASURED_TASK,
  watchersPerTask: watchersPerTask(MEASURED_TASK),
  minServerTasks: 2,
  versionPollsPerTaskSecond: 4,
  churnPerHostMonth: 1,
  portChangesPerHostMonth: 4,
  bytesOutPerRepoll: 600,
  bytesPerWatcherPerRevocation: 1024,
  bytesPerRenewal: 8 * 1024,
  lambdaSecondsPerCall: 0.15,
  logBytesPerApiCall: 1024,
  connectionSeconds: 3600,
  storageBytesPerHost: 8 * 1024,
  lastSeenIntervalSeconds: 600,
  egressPollSeconds: 2,
  bytesPerEgressPoll: 1024,
  egressPollCrossAzShare: 0.5,
  kmsKeys: 2,
  secrets: 1,
  alarms: 10,
  ebsGbPerInstance: 8,
};

export type Design = 'server-watches' | 'lambda-long-polls';

export interface CostLine {
  readonly item: string;
  readonly monthly: number;
}

const GB = 1e9;

/** The monthly control-plane cost lines for `hosts` connected hosts under `design`. */
export function controlPlaneCost(hosts: number, design: Design, p: Prices, d: Deployment, m: MeasuredMix, a: Assumptions): CostLine[] {
  const hours = p.hoursPerMonth;
  const seconds = hours * 3600;
  const renewals = (hosts * hours) / (d.certificateLifetimeHours * a.renewAtFraction);
  const repolls = (hosts * seconds) / a.watchRepollSeconds;
  const churn = hosts * a.churnPerHostMonth;
  const lastSeenWrites = lastSeenWritesPerMonth(hosts, hours, a);
  const portChanges = hosts * a.portChangesPerHostMonth;
  // Every route change (a port change, a revoked environment) wakes each proxy's long-poll once.
  const routeDeltas = (portChanges + churn) * d.proxies.count;
  const adminCalls = churn * 2 + portChanges;
  const shortCalls = renewals + churn + adminCalls;
  const onLambda = design === 'lambda-long-polls';
  const tasks = onLambda ? d.serverDesiredCount : Math.max(a.minServerTasks, Math.ceil(hosts / a.watchersPerTask));
  const apiRequests = shortCalls + (onLambda ? repolls : 0);
  const lambdaSeconds = shortCalls * a.lambdaSecondsPerCall + (onLambda ? hosts * seconds : 0);

  const reads =
    repolls * m.watchRepoll.read +
    renewals * m.renew.read +
    churn * (m.create.read + m.enroll.read + m.firstConfig.read + m.revoke.read) +
    portChanges * m.portChange.read +
    routeDeltas * m.routeDelta.read +
    tasks * seconds * a.versionPollsPerTaskSecond * m.versionPoll.read;
  const writes =
    repolls * m.watchRepoll.write +
    renewals * m.renew.write +
    churn * (m.create.write + m.enroll.write + m.firstConfig.write + m.revoke.write) +
    portChanges * m.portChange.write +
    lastSeenWrites * m.lastSeen.write;
  const revocationBytes = churn * hosts * a.bytesPerWatcherPerRevocation;
  const bytesOut = repolls * a.bytesOutPerRepoll + revocationBytes + (renewals + churn) * a.bytesPerRenewal;
  // Watches end TLS at the NLB's 8443 listener (the proxies' NLB: no second load balancer), so they
  // are billed in TLS LCUs: the largest of new connections / 50 per s, active connections / 3,000, GB per hour.
  const watchGbPerHour = (repolls * a.bytesOutPerRepoll * 2 + revocationBytes) / GB / hours;
  const lcu = onLambda ? 0 : Math.max(hosts / a.connectionSeconds / 50, hosts / 3_000, watchGbPerHour);
  // Without a DynamoDB gateway endpoint the server's table calls leave through the NAT gateway (about 1 KB a call).
  const natGb = onLambda || d.dynamodbGatewayEndpoint ? 0 : (tasks * seconds * a.versionPollsPerTaskSecond + repolls + routeDeltas + lastSeenWrites) * 1024 / GB;

  return [
    { item: 'API Gateway requests', monthly: (apiRequests / 1e6) * p.apiGatewayRestPerMillionRequests },
    { item: 'Lambda requests + GB-s', monthly: (apiRequests / 1e6) * p.lambdaPerMillionRequests + lambdaSeconds * d.lambdaMemoryGb * p.lambdaArmPerGbSecond },
    { item: 'KMS signatures + keys', monthly: ((renewals + churn) / 1e4) * p.kmsAsymmetricPer10kRequests + kmsKeys(d, a) * p.kmsPerKeyMonth },
    { item: 'DynamoDB reads', monthly: (reads / 1e6) * p.dynamodbOnDemandPerMillionReadUnits },
    { item: 'DynamoDB writes', monthly: (writes / 1e6) * p.dynamodbOnDemandPerMillionWriteUnits },
    { item: 'DynamoDB storage', monthly: ((hosts * a.storageBytesPerHost) / GB) * p.dynamodbStoragePerGbMonth },
    { item: `Fargate server tasks (${tasks})`, monthly: tasks * hours * (a.taskVcpu * p.fargateArmPerVcpuHour + a.taskGb * p.fargateArmPerGbHour) },
    { item: 'NLB hours + LCU', monthly: hours * (p.nlbPerHour + lcu * p.nlbPerLcuHour) },
    { item: 'NAT gateway hours + GB', monthly: d.natGateways * hours * p.natGatewayPerHour + natGb * p.natGatewayPerGbProcessed },
    { item: `Public IPv4 (NAT gateway, NLB in ${d.availabilityZones} AZs)`, monthly: (d.natGateways + d.availabilityZones) * hours * p.publicIpv4PerHour },
    { item: 'Data transfer out', monthly: (bytesOut / GB) * p.dataTransferOutToInternetPerGb },
    { item: 'CloudWatch logs + alarms + dashboard', monthly: ((apiRequests * a.logBytesPerApiCall) / GB) * p.cloudwatchLogsIngestPerGb + a.alarms * p.cloudwatchAlarmPerMonth + p.cloudwatchDashboardPerMonth },
    { item: 'Secrets Manager + Route 53 zone', monthly: a.secrets * p.secretsManagerPerSecretMonth + p.route53HostedZonePerMonth },
  ];
}

/**
 * Last-seen writes a month: a watching agent calls every `watchRepollSeconds` and the first call
 * after the interval is written (every 11th re-request at 55 s and 10 min), once per connected host.
 */
export function lastSeenWritesPerMonth(hosts: number, hoursPerMonth: number, a: Pick<Assumptions, 'lastSeenIntervalSeconds' | 'watchRepollSeconds'>): number {
  const every = (Math.floor(a.lastSeenIntervalSeconds / a.watchRepollSeconds) + 1) * a.watchRepollSeconds;
  return (hosts * hoursPerMonth * 3600) / every;
}

/** Customer-managed KMS keys: the CA and access-token keys, and the next CA key while `caNextKey` is set. */
export function kmsKeys(d: Pick<Deployment, 'caNextKey'>, a: Pick<Assumptions, 'kmsKeys'>): number {
  return a.kmsKeys + (d.caNextKey ? 1 : 0);
}

function instanceMonthly(p: Prices, a: Assumptions, type: string): number {
  const hourly = p.ec2PerHour[type];
  if (hourly === undefined) throw new Error(`no price for instance type ${type} in the price file`);
  return hourly * p.hoursPerMonth + a.ebsGbPerInstance * p.ebsGp3PerGbMonth;
}

/** The EC2 fleets (lighthouses, proxies), shown apart: they do not grow with connected hosts here. Lighthouses hold one Elastic IP each. */
export function fleetCost(p: Prices, d: Deployment, a: Assumptions): CostLine[] {
  const eip = p.publicIpv4PerHour * p.hoursPerMonth;
  return [
    { item: `lighthouses (${d.lighthouses.count} x ${d.lighthouses.instanceType}, an Elastic IP each)`, monthly: d.lighthouses.count * (instanceMonthly(p, a, d.lighthouses.instanceType) + eip) },
    { item: `proxies (${d.proxies.count} x ${d.proxies.instanceType})`, monthly: d.proxies.count * instanceMonthly(p, a, d.proxies.instanceType) },
  ];
}

/**
 * The egress fleet when enabled: its instances, one Elastic IP each (the public IPv4 charge), and its
 * rules feed. Each node polls `GET /v1/egress/rules` every `egressPollSeconds` at the server's in-VPC
 * name (the fleets' `agentApiUrl`, `http://server.<namespace>:8080`): no API Gateway, Lambda, NLB or
 * NAT gateway on that path; an unchanged poll is the measured `egressPoll` reads (the egress version
 * and the node's own host item) and, for the share of polls between AZs, inter-AZ transfer both ways.
 * It does not grow with connected hosts (a feed change costs one rebuild per server task, not counted).
 */
export function egressCost(p: Prices, d: Deployment, m: MeasuredMix, a: Assumptions): CostLine[] {
  const seconds = p.hoursPerMonth * 3600;
  const polls = (d.egress.count * seconds) / a.egressPollSeconds;
  const crossAzGb = (polls * a.egressPollCrossAzShare * a.bytesPerEgressPoll) / GB;
  return [
    { item: `egress nodes (${d.egress.count} x ${d.egress.instanceType})`, monthly: d.egress.count * instanceMonthly(p, a, d.egress.instanceType) },
    { item: `egress Elastic IPs (${d.egress.count})`, monthly: d.egress.count * p.publicIpv4PerHour * p.hoursPerMonth },
    { item: `egress feed reads (${fmtMillions(polls)} polls)`, monthly: ((polls * m.egressPoll.read) / 1e6) * p.dynamodbOnDemandPerMillionReadUnits },
    { item: 'egress feed inter-AZ transfer', monthly: crossAzGb * 2 * p.interAzPerGbEachWay },
  ];
}

const fmtMillions = (n: number) => `${(n / 1e6).toFixed(1)} M`;

export const total = (lines: readonly CostLine[]): number => lines.reduce((sum, l) => sum + l.monthly, 0);
