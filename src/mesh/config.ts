import { stringify } from 'yaml';
import { type Ipv4Prefix, ipv4Network, type NebulaCertificate, parseCertificateBundle, PkiError } from '../pki';
import { Ipv4Cidr } from './cidr';
import type { UnsafeRoute } from './egress-choice';
import { compareRanges, formatIpv4Range, parseIpv4Range, rangesOverlap } from './egress-routes';
import { endpointsPort, formatEndpoint, parseEndpoint } from './endpoint';
import { MeshError } from './errors';
import { firewallFor, type FirewallRule, type NetworkPolicy, parseNetworkPolicy } from './firewall';
import { formatIpv4, parseIpv4 } from './ipv4';
import { parseRole, type Role } from './roles';

/** Where the API's configs point `pki.key`; the agent rewrites it to its own key file. */
export const DEFAULT_KEY_PATH = '/etc/nebula/host.key';
export const DEFAULT_LIGHTHOUSE_PORT = 4242;
export const DEFAULT_TUN_DEVICE = 'nebula1';
/**
 * Nebula's own default: its packets then need a path MTU of 1360 (60 bytes of IPv4 + UDP + nebula
 * header + AEAD tag). 1440 would fill a 1500 path exactly and was measured faster (docs/egress.md),
 * but PPPoE, IPv6 underlays and other tunnels leave less than 1500, and ICMP-filtered paths
 * blackhole the rest; the default must hold on any internet path.
 */
export const DEFAULT_MTU = 1300;
/**
 * SO_RCVBUF/SO_SNDBUF of nebula's UDP socket (`listen.read_buffer`/`write_buffer`; the kernel
 * doubles them, root's SO_*BUFFORCE passes net.core.rmem_max). Debian's default, 208 KiB, overflows
 * while userspace nebula decrypts a bulk transfer's burst: the drops halve TCP throughput
 * (docs/egress.md, `npm run bench egress`). Memory is only taken while datagrams queue.
 */
export const UDP_SOCKET_BUFFER_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LIGHTHOUSE_INTERVAL_SECONDS = 60;
export const MIN_MTU = 576;
export const MAX_MTU = 9001;
/** How long a host told by a lighthouse to punch towards a peer waits first (see renderNebulaConfig). */
export const PUNCH_DELAY = '10ms';

export type LogFormat = 'json' | 'text';

export interface LighthouseAddress {
  /** The lighthouse's overlay IP, e.g. `10.42.0.1`. */
  ip: string;
  /** Its public underlay addresses, `host:port`. A lighthouse with none yet is left out of `lighthouse.hosts`. */
  endpoints: string[];
}

export interface NebulaConfigInput {
  role: Role;
  /** CA bundle: one or more `NEBULA CERTIFICATE` PEM blocks. */
  ca: string;
  /** The host's certificate, PEM. */
  certificate: string;
  /** Absolute path of the host's private key file; defaults to DEFAULT_KEY_PATH. */
  keyPath?: string;
  lighthouses: LighthouseAddress[];
  /** Fingerprints (lowercase hex SHA-256) of revoked certificates. */
  blocklist: string[];
  policy: NetworkPolicy;
  /**
   * The host's own public endpoints `host:port` (lighthouses only): hosts dial them, so a
   * lighthouse listens on the port they name (they must all name one port).
   */
  endpoints?: readonly string[];
  /**
   * UDP port; a lighthouse needs a fixed one: its endpoints' port, else 4242. Others default to 0
   * (any). A lighthouse's listenPort must agree with its endpoints.
   */
  listenPort?: number;
  tunDevice?: string;
  logFormat?: LogFormat;
  mtu?: number;
  /**
   * Networks outside the overlay this host reaches through another host of the mesh (an egress
   * node, whose certificate carries them as subnets): `tun.unsafe_routes`, each with the tun MTU.
   * Not for egress nodes, which deliver such traffic.
   */
  unsafeRoutes?: readonly UnsafeRoute[];
}

const FINGERPRINT = /^[0-9a-f]{64}$/;
/** Linux interface names: at most 15 bytes; kept to a plain charset. */
const TUN_DEVICE = /^[a-zA-Z][a-zA-Z0-9_-]{0,14}$/;

/**
 * A complete nebula 1.6 config for one host, as YAML. Deterministic: the same input gives the same
 * bytes (the API hashes it into an ETag), so keys come in a fixed order and lists are sorted.
 * Emits only keys nebula 1.6 reads, and YAML 1.1 quoting because nebula parses with go-yaml v2.
 */
export function renderNebulaConfig(input: NebulaConfigInput): string {
  if (typeof input !== 'object' || input === null) throw new MeshError('input', 'must be an object');
  const role = parseRole(input.role);
  const isLighthouse = role === 'lighthouse';
  const cas = parseCertificates(input.ca, 'ca');
  if (cas.some((ca) => !ca.details.isCA)) throw new MeshError('ca', 'holds a certificate that is not a CA');
  const [certificate, ...extra] = parseCertificates(input.certificate, 'certificate');
  if (extra.length > 0) throw new MeshError('certificate', `must hold exactly one certificate, found ${extra.length + 1}`);
  if (certificate.details.isCA) throw new MeshError('certificate', 'is a CA certificate, not a host certificate');
  if (!cas.some((ca) => ca.fingerprint() === certificate.details.issuer)) {
    throw new MeshError('certificate', `was issued by a CA that is not in the bundle (issuer ${certificate.details.issuer})`);
  }
  const hostIp = certificate.details.ips[0];
  if (hostIp === undefined) throw new MeshError('certificate', 'has no IP address');
  const network = Ipv4Cidr.parse(`${ipv4Network(hostIp).address}/${hostIp.prefixLength}`, 'certificate');
  const keyPath = checkKeyPath(input.keyPath ?? DEFAULT_KEY_PATH);
  const blocklist = checkBlocklist(input.blocklist);
  const policy = parseNetworkPolicy(input.policy);
  const lighthouses = checkLighthouses(input.lighthouses, network);
  const listenPort = checkListenPort(input, isLighthouse);
  const tunDevice = input.tunDevice ?? DEFAULT_TUN_DEVICE;
  if (typeof tunDevice !== 'string' || !TUN_DEVICE.test(tunDevice)) {
    throw new MeshError('tunDevice', 'must be 1..15 characters a-z, A-Z, 0-9, _ or -, starting with a letter');
  }
  const mtu = checkInteger(input.mtu ?? DEFAULT_MTU, 'mtu', MIN_MTU, MAX_MTU);
  const unsafeRoutes = checkUnsafeRoutes(input.unsafeRoutes, network, hostIp, role);
  const logFormat = input.logFormat ?? 'json';
  if (logFormat !== 'json' && logFormat !== 'text') throw new MeshError('logFormat', "must be 'json' or 'text'");

  // Nebula refuses a lighthouse in lighthouse.hosts without a static_host_map entry.
  const reachable = lighthouses.filter((lighthouse) => lighthouse.endpoints.length > 0);
  const firewall = firewallFor(role, policy);

  const config = {
    pki: { ca: cas.map((ca) => ca.toPem()).join(''), cert: certificate.toPem(), key: keyPath, blocklist, disconnect_invalid: true },
    static_host_map: isLighthouse ? {} : Object.fromEntries(reachable.map((l) => [l.ip, l.endpoints])),
    lighthouse: isLighthouse
      ? { am_lighthouse: true }
      : { am_lighthouse: false, interval: DEFAULT_LIGHTHOUSE_INTERVAL_SECONDS, hosts: reachable.map((l) => l.ip) },
    listen: { host: '0.0.0.0', port: listenPort, read_buffer: UDP_SOCKET_BUFFER_BYTES, write_buffer: UDP_SOCKET_BUFFER_BYTES },
    // nebula 1.6 asks a relay at the first handshake attempt, alongside the direct one: a peer
    // told to punch must do so within the first retry (100 ms later), or a NAT that hole
    // punching gets through still ends up relayed for the tunnel's life (1.6 never moves a
    // relayed tunnel to a direct path). Hence not the default 1 s delay.
    punchy: { punch: true, respond: true, delay: PUNCH_DELAY },
    relay: isLighthouse
      ? { am_relay: true, use_relays: false }
      : { am_relay: false, use_relays: true, relays: lighthouses.map((l) => l.ip) },
    tun: {
      disabled: false,
      dev: tunDevice,
      mtu,
      ...(unsafeRoutes.length > 0 ? { unsafe_routes: unsafeRoutes.map((r) => ({ route: r.route, via: r.via, mtu })) } : {}),
    },
    logging: { level: 'info', format: logFormat },
    firewall: {
      conntrack: { tcp_timeout: '12m', udp_timeout: '3m', default_timeout: '10m' },
      outbound: firewall.outbound.map(ruleObject),
      inbound: firewall.inbound.map(ruleObject),
    },
  };
  return stringify(config, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false });
}

/** Fixed key order for a rule, whatever order the rule object was built in. */
function ruleObject(rule: FirewallRule): Record<string, string> {
  const out: Record<string, string> = { port: rule.port, proto: rule.proto };
  if (rule.host !== undefined) out.host = rule.host;
  if (rule.group !== undefined) out.group = rule.group;
  return out;
}

/** Decoded through src/pki, so the config carries canonical PEM that nebula is known to read. */
function parseCertificates(value: unknown, field: string): NebulaCertificate[] {
  if (typeof value !== 'string' || value.trim() === '') throw new MeshError(field, 'must be a PEM string');
  let certificates: NebulaCertificate[];
  try {
    certificates = parseCertificateBundle(value);
  } catch (error) {
    if (error instanceof PkiError) throw new MeshError(field, error.message);
    throw error;
  }
  if (certificates.length === 0) throw new MeshError(field, "holds no '-----BEGIN NEBULA CERTIFICATE-----' block");
  return certificates;
}

function checkKeyPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || /[\x00-\x1f]/.test(value)) {
    throw new MeshError('keyPath', 'must be an absolute file path');
  }
  return value;
}

function checkBlocklist(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new MeshError('blocklist', 'must be a list of certificate fingerprints');
  value.forEach((fingerprint, i) => {
    if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) {
      throw new MeshError(`blocklist[${i}]`, 'must be a certificate fingerprint: 64 lowercase hex digits');
    }
  });
  return [...new Set(value as string[])].sort();
}

/** Nebula refuses lighthouses outside the host's own network, so they are checked against it. */
function checkLighthouses(value: unknown, network: Ipv4Cidr): LighthouseAddress[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new MeshError('lighthouses', 'must be a list of {ip, endpoints}');
  const seen = new Set<number>();
  const checked = value.map((lighthouse: unknown, i) => {
    const field = `lighthouses[${i}]`;
    if (typeof lighthouse !== 'object' || lighthouse === null) throw new MeshError(field, 'must be an object {ip, endpoints}');
    const { ip, endpoints } = lighthouse as Record<string, unknown>;
    const address = parseIpv4(ip, `${field}.ip`);
    if (network.indexOf(formatIpv4(address)) === undefined) {
      throw new MeshError(`${field}.ip`, `${formatIpv4(address)} is not a host address of the certificate's network ${network}`);
    }
    if (seen.has(address)) throw new MeshError(`${field}.ip`, `${formatIpv4(address)} is listed twice`);
    seen.add(address);
    if (endpoints !== undefined && !Array.isArray(endpoints)) {
      throw new MeshError(`${field}.endpoints`, "must be a list of 'host:port' strings");
    }
    const parsed = (endpoints ?? []).map((endpoint, j) => formatEndpoint(parseEndpoint(endpoint, `${field}.endpoints[${j}]`)));
    return { address, ip: formatIpv4(address), endpoints: [...new Set(parsed)].sort() };
  });
  return checked.sort((a, b) => a.address - b.address).map(({ ip, endpoints }) => ({ ip, endpoints }));
}

/**
 * Unsafe routes, sorted by route: each route an IPv4 network outside the overlay (nebula would
 * otherwise route mesh addresses out of the mesh), no two overlapping, each `via` another host of
 * the overlay.
 */
function checkUnsafeRoutes(value: unknown, network: Ipv4Cidr, hostIp: Ipv4Prefix, role: Role): UnsafeRoute[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new MeshError('unsafeRoutes', 'must be a list of {route, via}');
  if (value.length > 0 && role === 'egress') throw new MeshError('unsafeRoutes', 'egress nodes deliver routed traffic; they route none into the mesh');
  const overlay = { base: network.base, prefix: network.prefix };
  const ownIp = hostIp.address;
  const checked = value.map((entry: unknown, i) => {
    const field = `unsafeRoutes[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw new MeshError(field, 'must be an object {route, via}');
    const { route, via } = entry as Record<string, unknown>;
    const range = parseIpv4Range(route, `${field}.route`);
    if (rangesOverlap(range, overlay)) throw new MeshError(`${field}.route`, `${formatIpv4Range(range)} overlaps the overlay network ${network}`);
    const viaIp = formatIpv4(parseIpv4(via, `${field}.via`));
    if (network.indexOf(viaIp) === undefined) throw new MeshError(`${field}.via`, `${viaIp} is not a host address of the overlay network ${network}`);
    if (viaIp === ownIp) throw new MeshError(`${field}.via`, `${viaIp} is this host's own address`);
    return { range, via: viaIp, index: i };
  });
  checked.sort((a, b) => compareRanges(a.range, b.range));
  for (let i = 1; i < checked.length; i++) {
    if (rangesOverlap(checked[i - 1].range, checked[i].range)) {
      throw new MeshError(`unsafeRoutes[${Math.max(checked[i - 1].index, checked[i].index)}].route`, `overlaps unsafeRoutes[${Math.min(checked[i - 1].index, checked[i].index)}].route`);
    }
  }
  return checked.map((r) => ({ route: formatIpv4Range(r.range), via: r.via }));
}

/** A lighthouse listens where its endpoints point; others on the given port or any. */
function checkListenPort(input: NebulaConfigInput, isLighthouse: boolean): number {
  if (input.endpoints !== undefined && !Array.isArray(input.endpoints)) throw new MeshError('endpoints', "must be a list of 'host:port' strings");
  if (!isLighthouse) {
    if (input.endpoints !== undefined && input.endpoints.length > 0) throw new MeshError('endpoints', 'only lighthouses have public endpoints');
    return checkInteger(input.listenPort ?? 0, 'listenPort', 0, 65535);
  }
  const endpointPort = endpointsPort(input.endpoints ?? []);
  const port = checkInteger(input.listenPort ?? endpointPort ?? DEFAULT_LIGHTHOUSE_PORT, 'listenPort', 1, 65535);
  if (endpointPort !== undefined && port !== endpointPort) {
    throw new MeshError('listenPort', `is ${port} but the lighthouse's endpoints name port ${endpointPort}; hosts would dial a port nobody listens on`);
  }
  return port;
}

function checkInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new MeshError(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}
