import * as z from 'zod';

/**
 * The deployment's configuration: one object under the context key `gateway` (cdk.json, or
 * `-c gateway='{"domain":"..."}'`), validated here and nowhere else so that a mistake fails synth
 * with a message naming the key. Nothing here looks anything up in AWS: an existing hosted zone or
 * VPC is imported by attributes.
 */
export const CONTEXT_KEY = 'gateway';

/** A configuration that cannot be deployed; the message names every offending key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS: readonly number[] = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const ipv4Cidr = z.string().refine((text) => parseIpv4Cidr(text) !== undefined, {
  message: 'must be an IPv4 CIDR such as 10.0.0.0/16 (network address, prefix 8-30)',
});
const dnsName = z
  .string()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a DNS name such as dev.acme-corp.io');

/**
 * Names reserved by RFC 2606 and RFC 6761 (and `local`, RFC 6762): Route53 refuses to create
 * public zones for them, so a deploy would fail after minutes; refused here instead.
 */
export const RESERVED_DOMAINS: readonly string[] = ['example', 'example.com', 'example.net', 'example.org', 'test', 'invalid', 'localhost', 'local'];

/** The reserved name `domain` is, or falls under; undefined for a usable name. */
export function reservedDomain(domain: string): string | undefined {
  const name = domain.toLowerCase().replace(/\.$/, '');
  return RESERVED_DOMAINS.find((reserved) => name === reserved || name.endsWith(`.${reserved}`));
}

const proxyDomain = dnsName.superRefine((domain, ctx) => {
  const reserved = reservedDomain(domain);
  if (reserved) ctx.addIssue({ code: 'custom', message: `${domain} is under the reserved name ${reserved} (RFC 2606/6761), which Route53 cannot serve; use a domain you own` });
});

/**
 * An IAM role ARN (optionally with a path). The role name is what its sessions carry
 * (`arn:aws:sts::<account>:assumed-role/<name>/<session>`).
 */
const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const roleArn = z.string().regex(ROLE_ARN, 'must be an IAM role ARN such as arn:aws:iam::123456789012:role/PlatformAdmin');
const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'must be an EC2 instance type such as t4g.small');

const hostedZoneSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('create') }),
  z.strictObject({
    mode: z.literal('import'),
    id: z.string().regex(/^Z[A-Z0-9]{1,31}$/, 'must be a Route53 hosted zone id such as Z0123456789ABC'),
    name: dnsName,
  }),
]);

const vpcSchema = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('create'),
    cidr: ipv4Cidr.default('10.40.0.0/16'),
    maxAzs: z.number().int().min(2).max(6).default(2),
    natGateways: z.number().int().min(1).max(6).default(1),
  }),
  z.strictObject({
    mode: z.literal('import'),
    vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'must be a VPC id such as vpc-0123456789abcdef0'),
    cidr: ipv4Cidr,
    availabilityZones: z.array(z.string().min(1)).min(2, 'needs at least 2 availability zones'),
    publicSubnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/)),
    privateSubnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/)),
  }),
]);

/**
 * A Secrets Manager secret's full ARN, random suffix included: the proxies may read exactly this
 * secret, and IAM matches a grant on the full ARN only.
 */
const secretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
    'must be the full ARN of a Secrets Manager secret, with its 6-character suffix (arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf)',
  );

const PROXY_DEFAULTS = { min: 2, max: 4, instanceType: 't4g.small' };

const proxiesSchema = z
  .strictObject({
    min: z.number().int().min(1).default(PROXY_DEFAULTS.min),
    max: z.number().int().min(1).max(20).default(PROXY_DEFAULTS.max),
    instanceType: instanceType.default(PROXY_DEFAULTS.instanceType),
    /** JSON `{"certificate": "<PEM chain for *.<domain>>", "privateKey": "<PEM key>"}`; without it the proxies run no `gateway proxy`. */
    tlsSecretArn: secretArn.optional(),
  })
  .default(PROXY_DEFAULTS)
  .refine((fleet) => fleet.min <= fleet.max, { message: 'min must not exceed max', path: ['min'] });

/** The egress fleet's defaults (`gateway.egress`); the block itself is optional and off unless `enabled`. */
export const EGRESS_DEFAULTS = { enabled: false, extraCidrs: [] as string[], maxInstances: 2, instanceType: 't4g.small' };

/**
 * Space an egress route may not cover (src/mesh/egress-routes.ts refuses the same at deploy, when
 * the routes are written): refused here too, so synth names the key instead of a failed deploy.
 */
const EGRESS_UNROUTABLE: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: "'this network'" },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local space (EC2 instance metadata and DNS)' },
  { cidr: '224.0.0.0/3', what: 'multicast or reserved space' },
];

const egressSchema = z.strictObject({
  /** Creates the egress fleet (static Elastic IPs, routes into the VPC); nothing egress exists without it. */
  enabled: z.boolean().default(EGRESS_DEFAULTS.enabled),
  /** Destinations besides the VPC's own CIDR that environments may be routed to through the fleet (peered VPCs, on-premises over VPN). */
  extraCidrs: z.array(ipv4Cidr).max(20).default(EGRESS_DEFAULTS.extraCidrs),
  /** Elastic IPs in the pool, and the fleet's size: never more instances than addresses. */
  maxInstances: z.number().int().min(1).max(10).default(EGRESS_DEFAULTS.maxInstances),
  instanceType: instanceType.default(EGRESS_DEFAULTS.instanceType),
});

const configSchema = z
  .strictObject({
    /** Prefix of every stack name and export name; keep it stable once deployed. */
    name: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,31}$/, 'must be 1-32 letters, digits or dashes, starting with a letter').default('NebulaGateway'),
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1').optional(),
    domain: proxyDomain,
    /** The roles (and their sessions) that may call the admin routes: hosts, ports, access tokens. */
    admins: z.strictObject({
      roleArns: z.array(roleArn).min(1, 'name at least one admin role: without one nobody can create a host').max(20),
    }),
    /** The SNS topic every alarm notifies; `email` subscribes that address (it must confirm). */
    alarms: z.strictObject({ email: z.email('must be an email address').optional() }).default({}),
    hostedZone: hostedZoneSchema.default({ mode: 'create' }),
    vpc: vpcSchema.default({ mode: 'create', cidr: '10.40.0.0/16', maxAzs: 2, natGateways: 1 }),
    overlayCidr: ipv4Cidr.default('100.100.0.0/16'),
    certificateLifetimeHours: z.number().int().min(1).max(24 * 30).default(24),
    caLifetimeDays: z.number().int().min(30).max(3650 * 3).default(3650),
    caKeyBackend: z.enum(['kms', 'secret']).default('kms'),
    /** The key slot of the current CA key; after a CA rotation, the next key's slot (docs/ca-rotation.md). */
    caKeySlot: z.enum(['a', 'b']).default('a'),
    /** Make the next CA key (the other slot) so an admin can start a CA rotation; false again once the slots are rolled. */
    caNextKey: z.boolean().default(false),
    lighthouses: z
      .strictObject({
        count: z.number().int().min(1).max(5).default(2),
        instanceType: instanceType.default('t4g.micro'),
      })
      .default({ count: 2, instanceType: 't4g.micro' }),
    proxies: proxiesSchema,
    server: z
      .strictObject({
        // Two by default (one per AZ): a task's restart or an AZ outage must not drop every watch at once.
        desiredCount: z.number().int().min(1).max(10).default(2),
        cpu: z.union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]).default(256),
        memoryMiB: z.number().int().min(512).max(30720).default(512),
      })
      .default({ desiredCount: 2, cpu: 256, memoryMiB: 512 }),
    api: z
      .strictObject({
        rateLimit: z.number().positive().default(50),
        burstLimit: z.number().int().positive().default(100),
      })
      .default({ rateLimit: 50, burstLimit: 100 }),
    /** Omitted: no egress fleet (as `{"enabled": false}`). */
    egress: egressSchema.optional(),
    logRetentionDays: z
      .number()
      .refine((days) => LOG_RETENTION_DAYS.includes(days), { message: `must be one of CloudWatch's retention periods: ${[1, 7, 30, 90, 365].join(', ')}, ...` })
      .default(30),
  })
  .superRefine((config, ctx) => {
    const vpc = parseIpv4Cidr(config.vpc.cidr);
    const overlay = parseIpv4Cidr(config.overlayCidr);
    if (vpc && overlay && cidrsOverlap(vpc, overlay)) {
      ctx.addIssue({ code: 'custom', path: ['overlayCidr'], message: `${config.overlayCidr} overlaps the VPC's ${config.vpc.cidr}` });
    }
    if (config.hostedZone.mode === 'import') {
      const zone = config.hostedZone.name;
      if (config.domain !== zone && !config.domain.endsWith(`.${zone}`)) {
        ctx.addIssue({ code: 'custom', path: ['domain'], message: `${config.domain} is not inside the hosted zone ${zone}` });
      }
    }
    config.egress?.extraCidrs.forEach((text, i) => {
      const cidr = parseIpv4Cidr(text);
      if (!cidr) return;
      if (overlay && cidrsOverlap(cidr, overlay)) {
        ctx.addIssue({ code: 'custom', path: ['egress', 'extraCidrs', i], message: `${text} overlaps the overlay ${config.overlayCidr}: nebula would route the overlay into itself` });
      }
      const unroutable = EGRESS_UNROUTABLE.find((bad) => cidrsOverlap(cidr, parseIpv4Range(bad.cidr)));
      if (unroutable) {
        ctx.addIssue({ code: 'custom', path: ['egress', 'extraCidrs', i], message: `${text} overlaps ${unroutable.what} (${unroutable.cidr}), which must stay off the tunnel` });
      }
      if (vpc && cidrsOverlap(cidr, vpc)) {
        ctx.addIssue({ code: 'custom', path: ['egress', 'extraCidrs', i], message: `${text} overlaps the VPC's ${config.vpc.cidr}, which is routed already` });
      }
      const earlier = config.egress!.extraCidrs.slice(0, i).find((other) => {
        const range = parseIpv4Cidr(other);
        return range !== undefined && cidrsOverlap(cidr, range);
      });
      if (earlier) ctx.addIssue({ code: 'custom', path: ['egress', 'extraCidrs', i], message: `${text} overlaps ${earlier}, listed before it` });
    });
    if (config.vpc.mode === 'import') {
      for (const key of ['publicSubnetIds', 'privateSubnetIds'] as const) {
        if (config.vpc[key].length !== config.vpc.availabilityZones.length) {
          ctx.addIssue({ code: 'custom', path: ['vpc', key], message: 'needs one subnet per availability zone, in the same order' });
        }
      }
    }
  });

export type GatewayConfig = z.output<typeof configSchema>;
/** What a user may write: everything but `domain` and `admins` has a default. */
export type GatewayConfigInput = z.input<typeof configSchema>;

/**
 * Validates the raw context value. Accepts the object itself or its JSON text (what `-c` gives).
 * Throws a ConfigError listing each bad key as `gateway.<path>: <problem>`.
 */
export function parseConfig(raw: unknown): GatewayConfig {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new ConfigError(`context '${CONTEXT_KEY}' must be a JSON object; got unparseable text`);
    }
  }
  if (value === undefined || value === null) {
    throw new ConfigError(
      `context '${CONTEXT_KEY}' is missing; set at least ${CONTEXT_KEY}.domain and ${CONTEXT_KEY}.admins.roleArns, e.g. ` +
        `-c ${CONTEXT_KEY}='{"domain":"dev.acme-corp.io","admins":{"roleArns":["arn:aws:iam::123456789012:role/PlatformAdmin"]}}' (see docs/deploy.md)`,
    );
  }
  const result = configSchema.safeParse(value);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${[CONTEXT_KEY, ...issue.path.map(String)].join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration in context '${CONTEXT_KEY}':\n${lines.join('\n')}`);
}

/** The nebula roles of the instances the app runs (each fleet's role name, fleet tag and registration). */
export type FleetRole = 'lighthouse' | 'proxy' | 'egress';

/** Whether the config asks for the egress fleet (`gateway.egress.enabled`). */
export function egressEnabled(config: Pick<GatewayConfig, 'egress'>): boolean {
  return config.egress?.enabled === true;
}

/**
 * The network's egress routes: what environments may reach through the egress fleet (within their
 * organisation's egress policy), i.e. the `subnets` of the egress nodes' certificates. The VPC's own
 * CIDR first, then `egress.extraCidrs` in their order; none when egress is off.
 */
export function egressRoutes(config: Pick<GatewayConfig, 'egress' | 'vpc'>): string[] {
  return egressEnabled(config) ? [config.vpc.cidr, ...config.egress!.extraCidrs] : [];
}

/**
 * The IAM role name each fleet's instances use; fixed so the API can check a caller's role without
 * a cross-stack reference. IAM names are global to the account: the region (a literal, or the
 * stack's `AWS::Region` token) keeps two regions' deployments apart. At most 63 characters.
 */
export function fleetRoleName(config: Pick<GatewayConfig, 'name'>, region: string, role: FleetRole): string {
  return `${config.name}-${region}-${role}-node`;
}

/** The port of the proxies' NLB whose TLS listener forwards agents' config watches to the server tasks. */
export const WATCH_PORT = 8443;

/** `watch.<domain>`: the name environments reach the server's watches by (its certificate's name). */
export function watchName(config: Pick<GatewayConfig, 'domain'>): string {
  return `watch.${config.domain}`;
}

/** `https://watch.<domain>:8443`: GATEWAY_WATCH_URL of the functions that answer with `watchUrl` and of the server task. */
export function watchUrl(config: Pick<GatewayConfig, 'domain'>): string {
  return `https://${watchName(config)}:${WATCH_PORT}`;
}

/** An admin role's name, account and partition, parsed from its (validated) ARN. */
export function parseRoleArn(arn: string): { partition: string; account: string; roleName: string } {
  const match = ROLE_ARN.exec(arn);
  if (!match) throw new ConfigError(`not an IAM role ARN: ${arn}`);
  return { partition: match[1], account: match[2], roleName: match[3] };
}

/** DNS name of lighthouse `index` (1-based); each is an A record on one of the lighthouse Elastic IPs. */
export function lighthouseName(config: Pick<GatewayConfig, 'domain'>, index: number): string {
  return `lighthouse-${index}.${config.domain}`;
}

interface Ipv4Range {
  readonly start: number;
  readonly end: number;
}

/** Parses `a.b.c.d/n` as a network address (host bits zero); undefined if it is not one. */
export function parseIpv4Cidr(text: string): Ipv4Range | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix < 8 || prefix > 30) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) return undefined;
  return { start: address, end: address + size - 1 };
}

/** A range from `a.b.c.d/n` without parseIpv4Cidr's prefix bounds (the /3 above is wider than any CIDR a user may give). */
function parseIpv4Range(text: string): Ipv4Range {
  const [address, prefix] = text.split('/');
  const start = address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return { start, end: start + 2 ** (32 - Number(prefix)) - 1 };
}

function cidrsOverlap(a: Ipv4Range, b: Ipv4Range): boolean {
  return a.start <= b.end && b.start <= a.end;
}
