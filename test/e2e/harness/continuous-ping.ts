import type { ChildProcess } from 'node:child_process';
import { type Namespace, nsSpawn } from './netns';

/** What a continuous ping saw: each echo request sent, answered or not. */
export interface PingTally {
  readonly from: string;
  readonly to: string;
  /** Requests counted (the last one, sent just before stop(), is not). */
  readonly transmitted: number;
  readonly received: number;
  /** Sequence numbers that got no answer (sent but unanswered, or refused to send). */
  readonly lost: readonly number[];
  /** Per lost ping, when the answers around it arrived (epoch ms; ±Infinity at the ends): it was lost in between. */
  readonly gaps: readonly { readonly seq: number; readonly after: number; readonly before: number }[];
}

/**
 * `ping -i <interval>` from `from` to `ip` (an overlay address) until stop(): SIGINT makes ping
 * print its summary. Every request counts: one that could not be sent (the route gone while a
 * tun device is down) is lost too.
 */
export class ContinuousPing {
  private readonly child: ChildProcess;
  private output = '';
  private readonly done: Promise<void>;

  constructor(
    readonly from: Namespace,
    readonly to: string,
    intervalSeconds = 0.2,
  ) {
    this.child = nsSpawn(from, 'ping', ['-D', '-n', '-i', String(intervalSeconds), '-W', '2', to], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    // 'close', not 'exit': the summary ping prints as it exits may still be in the pipe at 'exit'.
    this.done = new Promise((resolve) => this.child.once('close', () => resolve()));
  }

  /** Stops the ping and tallies it. */
  async stop(): Promise<PingTally> {
    this.child.kill('SIGINT');
    await this.done;
    const match = /(\d+) packets transmitted/.exec(this.output);
    if (!match) throw new Error(`no ping summary from ${this.from.name} to ${this.to}: ${this.output.slice(-500)}`);
    const transmitted = Number(match[1]);
    const replies = new Map([...this.output.matchAll(/^\[(\d+\.\d+)\] .*icmp_seq=(\d+) ttl=/gm)].map((m) => [Number(m[2]), Number(m[1]) * 1000]));
    const answered = [...replies.keys()].sort((a, b) => a - b);
    const lost: number[] = [];
    const gaps: { seq: number; after: number; before: number }[] = [];
    // The last request may have been sent a moment before SIGINT; it is not counted as lost.
    for (let seq = 1; seq < transmitted; seq++) {
      if (replies.has(seq)) continue;
      lost.push(seq);
      const previous = answered.filter((n) => n < seq).pop();
      const next = answered.find((n) => n > seq);
      gaps.push({ seq, after: previous === undefined ? -Infinity : (replies.get(previous) as number), before: next === undefined ? Infinity : (replies.get(next) as number) });
    }
    const counted = Math.max(0, transmitted - 1);
    return { from: this.from.name, to: this.to, transmitted: counted, received: counted - lost.length, lost, gaps };
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** A lost ping: its sequence number and when the answers around it arrived (epoch ms). */
export interface PingGap {
  readonly seq: number;
  readonly after: number;
  readonly before: number;
}

/**
 * The losses a tunnel handover does not explain. Nebula 1.6 cannot keep a session alive while
 * another replaces it: the agent's handover (close-tunnel, then create-tunnel) leaves the peers
 * without a tunnel for one handshake, which on a loaded machine can take a retry or two (nebula
 * retries after 100 ms, then 200 ms, ...), so the pings sent meanwhile may be lost. A loss is
 * excused only if its silence (between the answers around it) lasts at most `maxSilenceMs` and a
 * handover on either end finished within `slackMs` of it; a restart, a broken handover or a lost
 * tunnel is silent for seconds. Every other loss is returned.
 */
export function lossesNotAtAHandover(gaps: readonly PingGap[], handoversAt: readonly number[], slackMs = 5000, maxSilenceMs = 1000): PingGap[] {
  return gaps.filter((gap) => {
    const brief = Number.isFinite(gap.after) && Number.isFinite(gap.before) && gap.before - gap.after <= maxSilenceMs;
    const atHandover = handoversAt.some((t) => t >= gap.after - slackMs && t <= gap.before + slackMs);
    return !(brief && atHandover);
  });
}

/** How many silences the losses make: the losses of one run share the answers around them. */
export function silences(gaps: readonly PingGap[]): number {
  return new Set(gaps.map((g) => `${g.after}/${g.before}`)).size;
}
