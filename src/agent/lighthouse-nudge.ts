import { createSocket } from 'node:dgram';

/** The line nebula 1.6 logs when a peer closed the tunnel (text or JSON logging alike). */
const CLOSED = 'Close tunnel received';
const VPN_IP = /vpnIp["=:]+"?(\d{1,3}(?:\.\d{1,3}){3})/;

/**
 * The lighthouses (of `lighthouses`) that closed their tunnel with this host in `lines` (nebula
 * log lines), in order. After a key rotation a lighthouse drops the tunnel made with the
 * blocklisted certificate, and a lighthouse handing its tunnels over to its renewed certificate
 * closes them all; either way it forgets this host's address, which it learns again only from the
 * host's next handshake with it: nebula 1.6 sends its next lighthouse update a whole
 * `lighthouse.interval` later, and until then nobody can look the host up.
 */
export function lighthousesThatClosed(lines: readonly string[], lighthouses: readonly string[]): string[] {
  return peersThatClosed(lines).filter((ip) => lighthouses.includes(ip));
}

/** The peers (overlay IPs) that closed their tunnel with this host in `lines` (nebula log lines), in order. */
export function peersThatClosed(lines: readonly string[]): string[] {
  return lines.filter((line) => line.includes(CLOSED)).map((line) => VPN_IP.exec(line)?.[1]).filter((ip): ip is string => ip !== undefined);
}

/**
 * One empty UDP datagram to a lighthouse's overlay address (the discard port): nebula has no
 * tunnel for it, so it handshakes with the lighthouse at once, and the lighthouse learns this
 * host's address from the handshake. The lighthouse's firewall drops the datagram itself.
 */
export function nudgeLighthouse(ip: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.on('error', () => {
      socket.close();
      resolve();
    });
    socket.send(Buffer.alloc(0), 9, ip, () => {
      socket.close();
      resolve();
    });
  });
}
