import { peersThatClosed } from './lighthouse-nudge';

/**
 * Handing the tunnels over to a renewed certificate without restarting nebula. nebula 1.6 keeps
 * the certificate a tunnel was made with until the tunnel ends (a SIGHUP reload does not
 * re-handshake), so after a renewal the agent closes, one at a time through nebula's loopback
 * console, every tunnel that existed when the reload took effect, and has nebula handshake again
 * at once with the new certificate: `close-tunnel <ip>` tells the peer (which drops its side, so
 * neither end keeps sending on the old session), then `create-tunnel <ip>` starts the new
 * handshake (a lighthouse, a static host, at once; another peer once the lighthouse answered for
 * it: the close also forgot its address). Not `create-tunnel -address`: nebula 1.6.1 crashes on
 * it (nil remote list in SetRemote). Packets sent meanwhile wait in nebula's handshake queue.
 * Lighthouses go first: a lighthouse forgets this host's address when their tunnel closes and
 * learns it again from the new handshake, and the other peers look this host up there. (When a
 * lighthouse hands over, the hosts it closed on nudge it: see lighthouse-nudge.ts.)
 *
 * The decisions are pure (tested as tables); `handOverTunnels` runs them with the console and
 * clock passed in.
 */

/** The part of one `list-hostmap -json` / `list-pending-hostmap -json` entry the handover uses. */
export interface Tunnel {
  readonly vpnIp: string;
  /** nebula's local index of the session: a new handshake makes a new one. */
  readonly localIndex: number;
}

export interface HandoverStep {
  readonly vpnIp: string;
  /** The session being replaced. */
  readonly localIndex: number;
  readonly lighthouse: boolean;
}

/**
 * What became of a step's tunnel: a new session, none yet (made again by the next packet), a
 * handshake under way, still the old session, or left alone because the peer closed it after the
 * reload (its own handover: the tunnel made since carries the new certificate already).
 */
export type StepOutcome = 'renewed' | 'closed' | 'handshaking' | 'unchanged' | 'peer-renewed';

export class HandoverError extends Error {
  override readonly name = 'HandoverError';
}

/** Parses nebula 1.6's `list-hostmap -json` (or `list-pending-hostmap -json`) output. */
export function parseTunnels(json: string): Tunnel[] {
  let entries: unknown;
  try {
    entries = JSON.parse(json);
  } catch (error) {
    throw new HandoverError(`nebula's hostmap is not JSON: ${json.slice(0, 200)}`, { cause: error });
  }
  if (entries === null) return [];
  if (!Array.isArray(entries)) throw new HandoverError("nebula's hostmap is not a JSON list");
  return entries.flatMap((entry: { vpnIp?: unknown; localIndex?: unknown }) => (typeof entry?.vpnIp === 'string' && typeof entry.localIndex === 'number' ? [{ vpnIp: entry.vpnIp, localIndex: entry.localIndex }] : []));
}

/**
 * The steps for the tunnels that may carry the replaced certificate (all those nebula had when
 * the reload took effect): lighthouses first, so every peer that looks this host up afterwards
 * finds it again, then the others by overlay IP.
 */
export function handoverPlan(tunnels: readonly Tunnel[], lighthouses: readonly string[]): HandoverStep[] {
  const order = (t: Tunnel) => (lighthouses.includes(t.vpnIp) ? 0 : 1);
  return [...tunnels]
    .sort((a, b) => order(a) - order(b) || ipOrder(a.vpnIp) - ipOrder(b.vpnIp))
    .map((t) => ({ vpnIp: t.vpnIp, localIndex: t.localIndex, lighthouse: lighthouses.includes(t.vpnIp) }));
}

/** The console commands of a step, in order. */
export function stepCommands(step: HandoverStep): string[] {
  return [`close-tunnel ${step.vpnIp}`, `create-tunnel ${step.vpnIp}`];
}

/** What became of a step's tunnel, from the hostmap and the pending hostmap read after it. */
export function stepOutcome(step: HandoverStep, hostmap: readonly Tunnel[], pending: readonly Tunnel[]): StepOutcome {
  const now = hostmap.find((t) => t.vpnIp === step.vpnIp);
  if (now) return now.localIndex === step.localIndex ? 'unchanged' : 'renewed';
  return pending.some((t) => t.vpnIp === step.vpnIp) ? 'handshaking' : 'closed';
}

/**
 * The peers that closed their tunnel with this host after nebula reloaded the new certificate
 * (`lines`: nebula's log; `isReload`: the reload's line). A tunnel with such a peer was made after
 * the reload, with the new certificate: closing it again would only risk the packets in flight.
 * Without the reload's line in `lines`, none.
 */
export function peersClosedSinceReload(lines: readonly string[], isReload: (line: string) => boolean): string[] {
  let reloadAt = lines.length - 1;
  while (reloadAt >= 0 && !isReload(lines[reloadAt])) reloadAt--;
  return reloadAt < 0 ? [] : [...new Set(peersThatClosed(lines.slice(reloadAt + 1)))];
}

/** Whether a step is done waiting: its new session is up, or nothing is under way for it (the next packet makes it). */
export function stepSettled(outcome: StepOutcome): boolean {
  return outcome === 'renewed' || outcome === 'closed';
}

/** The handshakes of `before` (begun before the reload, maybe with the replaced certificate) still pending in `now`. */
export function stillPending(before: readonly Tunnel[], now: readonly Tunnel[]): Tunnel[] {
  return before.filter((b) => now.some((n) => n.vpnIp === b.vpnIp && n.localIndex === b.localIndex));
}

export interface HandoverIo {
  /** Runs one console command and resolves to its output. */
  readonly console: (command: string) => Promise<string>;
  /** The peers that closed their tunnel with this host since the reload (see peersClosedSinceReload). */
  readonly closedByPeers: () => readonly string[];
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

export interface HandoverResult {
  readonly peers: readonly { readonly vpnIp: string; readonly outcome: StepOutcome }[];
}

/** How long the handover waits for each re-made tunnel's new session. */
export const HANDOVER_SETTLE_MS = 5000;
/** How long it waits for handshakes begun before the reload: past nebula's default attempts (10 tries, 100 ms linear backoff: 5.5 s), so one with an unreachable peer gives up first. */
export const PENDING_WAIT_MS = 10_000;
const POLL_MS = 50;

/**
 * Hands every tunnel over to the certificate nebula now runs (call it once nebula logged the
 * reload). Throws a HandoverError when a tunnel still holds its old session afterwards, or a
 * handshake begun before the reload does not finish: the caller then keeps its restart fallback.
 */
export async function handOverTunnels(io: HandoverIo, lighthouses: readonly string[]): Promise<HandoverResult> {
  const read = async (command: string) => parseTunnels(await io.console(command));
  // A handshake begun before the reload carries the replaced certificate: let it finish first.
  const pendingBefore = await read('list-pending-hostmap -json');
  const deadline = io.now() + PENDING_WAIT_MS;
  while (stillPending(pendingBefore, await read('list-pending-hostmap -json')).length > 0) {
    if (io.now() > deadline) throw new HandoverError(`handshakes begun before the reload did not finish: ${pendingBefore.map((t) => t.vpnIp).join(', ')}`);
    await io.sleep(POLL_MS);
  }
  const plan = handoverPlan(await read('list-hostmap -json'), lighthouses);
  const peers: { vpnIp: string; outcome: StepOutcome }[] = [];
  for (const step of plan) {
    if (io.closedByPeers().includes(step.vpnIp)) {
      peers.push({ vpnIp: step.vpnIp, outcome: 'peer-renewed' });
      continue;
    }
    for (const command of stepCommands(step)) await io.console(command);
    // One at a time: the next peer is handed over once this one's new session is up.
    const until = io.now() + HANDOVER_SETTLE_MS;
    let outcome: StepOutcome;
    for (;;) {
      outcome = stepOutcome(step, await read('list-hostmap -json'), await read('list-pending-hostmap -json'));
      if (stepSettled(outcome) || io.now() > until) break;
      await io.sleep(POLL_MS);
    }
    if (outcome === 'unchanged') throw new HandoverError(`the tunnel with ${step.vpnIp} still holds its old session after close-tunnel`);
    peers.push({ vpnIp: step.vpnIp, outcome });
  }
  return { peers };
}

function ipOrder(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}
