import { MeshError } from './errors';
import { formatIpv4, parseIpv4, printable } from './ipv4';

export interface Endpoint {
  /** An IPv4 address or a DNS name (lowercased). */
  host: string;
  port: number;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PORT = /^[1-9][0-9]{0,4}$/;

/**
 * Validates a lighthouse's public address `host:port` (IPv4 or DNS name, port 1..65535). Nebula
 * treats an address it cannot parse or resolve as a fatal config error, so a bad endpoint must be
 * refused when it is recorded, not when every host restarts.
 */
export function parseEndpoint(text: unknown, field = 'endpoint'): Endpoint {
  if (typeof text !== 'string') throw new MeshError(field, "must be a string 'host:port'");
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new MeshError(field, `'${printable(text)}' is not 'host:port' (e.g. lighthouse1.example.com:4242)`);
  const hostText = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!PORT.test(portText) || Number(portText) > 65535) {
    throw new MeshError(field, `'${printable(text)}' has an invalid port '${printable(portText)}' (expected 1..65535)`);
  }
  const port = Number(portText);
  if (/^[0-9.]+$/.test(hostText)) {
    const address = parseIpv4(hostText, field);
    // 0.0.0.0/8 and 224.0.0.0/3 (multicast, reserved, broadcast) are not unicast destinations.
    if (address >>> 24 === 0 || address >>> 29 === 7) {
      throw new MeshError(field, `'${hostText}' is not a unicast address a host can reach`);
    }
    return { host: formatIpv4(address), port };
  }
  const host = hostText.toLowerCase().replace(/\.$/, '');
  const labels = host.split('.');
  const numericTld = /^[0-9]+$/.test(labels[labels.length - 1]);
  if (host.length > 253 || numericTld || !labels.every((label) => LABEL.test(label))) {
    throw new MeshError(field, `'${printable(hostText)}' is neither an IPv4 address nor a valid DNS name`);
  }
  return { host, port };
}

export function formatEndpoint(endpoint: Endpoint): string {
  return `${endpoint.host}:${endpoint.port}`;
}

/**
 * The one UDP port a lighthouse's endpoints name, which its nebula must listen on (hosts dial the
 * endpoints); undefined without endpoints. Endpoints naming different ports are refused: one nebula
 * listens on one port, so all but one of them would be dead.
 */
export function endpointsPort(endpoints: readonly unknown[], field = 'endpoints'): number | undefined {
  const ports = [...new Set(endpoints.map((endpoint, i) => parseEndpoint(endpoint, `${field}[${i}]`).port))];
  if (ports.length > 1) {
    throw new MeshError(field, `name different ports (${ports.join(', ')}); a lighthouse's nebula listens on one port, so every endpoint must name it`);
  }
  return ports[0];
}
