import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentLogger, writeFileAtomic } from '../agent';
import { type AgentPaths, agentPaths, readAppliedConfig, readIdentity } from '../agent/state-dir';
import { flowsToCut } from './cut';
import { EMPTY_FEED, type EgressFeed, type ParsedCidr, maskOf, parseCidr, parseEgressFeed } from './feed';
import { FlowLog } from './flow-log';
import { type SourceHost, memberIndex } from './policy';
import { RefusedLog, parseRefusedSet } from './refused';
import { fetchEgressRules } from './rules-client';
import { renderRuleset } from './ruleset';
import { DEFAULT_TOOLS, type EgressTools, EgressToolError, applyRuleset, checkTools, deleteConntrack, enableKernelSettings, listConntrack, listRefusedSet, watchConntrack } from './tools';

/** How often the node asks for the rules (and reads the refused set) unless told otherwise. */
export const DEFAULT_POLL_SECONDS = 2;
/** The last applied feed, next to the agent's files: applied at start when the API does not answer. */
export const SAVED_RULES_FILE = 'egress-rules.json';

export interface EgressNodeOptions {
  /** The agent directory of the egress host (`gateway agent enroll --dir`). */
  readonly dir: string;
  /** @default DEFAULT_POLL_SECONDS */
  readonly pollSeconds?: number;
  /** Events (`egress_rules_applied`, …). */
  readonly logger: AgentLogger;
  /** Flow log: one JSON object per line. */
  readonly flows: { write(line: string): unknown };
  readonly signal: AbortSignal;
  readonly tools?: EgressTools;
}

interface SavedRules {
  readonly etag?: string;
  readonly feed: unknown;
}

function readSaved(path: string): { etag?: string; feed: EgressFeed } | undefined {
  if (!existsSync(path)) return undefined;
  const saved = JSON.parse(readFileSync(path, 'utf8')) as SavedRules;
  return { etag: saved.etag, feed: parseEgressFeed(saved.feed) };
}

function localFacts(paths: AgentPaths): { tunDevice: string; overlay: ParsedCidr } {
  const applied = readAppliedConfig(paths);
  if (!applied) throw new EgressToolError(`${paths.config} does not exist: enroll the egress host first ('gateway agent enroll')`);
  const tun = ((applied.config as Record<string, unknown>).tun as { dev?: unknown } | undefined)?.dev;
  if (typeof tun !== 'string') throw new EgressToolError(`${paths.config} names no tun.dev`);
  // The certificate's address with the overlay's prefix length (`10.42.0.5/16`): the overlay network.
  const [ip, prefix] = applied.certificateIp.split('/');
  const host = parseCidr(ip, 'certificate ip');
  const length = Number(prefix);
  return { tunDevice: tun, overlay: { base: (host.base & maskOf(length)) >>> 0, prefix: length } };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * `gateway egress run`: enforces the network's egress policy on this host. Applies the rules
 * (from the API; else the last saved ones; else none, which refuses everything) before it turns
 * forwarding on, then polls the API with the ETag and re-applies on change, cutting the
 * established flows the new policy no longer allows. Writes the flow log from conntrack events
 * and a refusal line per newly refused tuple. Stopping it leaves the last ruleset in force.
 */
export async function runEgressNode(options: EgressNodeOptions): Promise<number> {
  const { logger, signal } = options;
  const tools = options.tools ?? DEFAULT_TOOLS;
  const pollMs = (options.pollSeconds ?? DEFAULT_POLL_SECONDS) * 1000;
  const paths = agentPaths(options.dir);
  const identity = readIdentity(paths);
  const { tunDevice, overlay } = localFacts(paths);
  checkTools(tools);
  const savedPath = join(paths.dir, SAVED_RULES_FILE);
  const client = { api: identity.api, hostId: identity.hostId, credential: identity.credential, apiCa: identity.apiCa };
  const sources = new Map<string, SourceHost>();
  let current: EgressFeed | undefined;
  let etag: string | undefined;

  const apply = async (feed: EgressFeed, via: 'api' | 'disk' | 'default'): Promise<void> => {
    await applyRuleset(renderRuleset(feed, { tunDevice }), { tools });
    for (const [ip, host] of memberIndex(feed)) sources.set(ip, host);
    const cut = current === undefined && via === 'default' ? [] : flowsToCut(await listConntrack(tools), feed, overlay);
    const deleted = await deleteConntrack(cut, tools);
    current = feed;
    logger.log('info', 'egress_rules_applied', {
      version: feed.version,
      via,
      organizations: feed.organizations.length,
      rules: feed.organizations.reduce((n, o) => n + o.rules.length, 0),
      flowsCut: deleted,
    });
  };

  const poll = async (timeoutMs: number): Promise<boolean> => {
    try {
      const answer = await fetchEgressRules({ ...client, timeoutMs }, current ? etag : undefined, signal);
      if (!answer.changed) return true;
      await apply(answer.feed, 'api');
      etag = answer.etag;
      writeFileAtomic(savedPath, `${JSON.stringify({ etag, feed: answer.json })}\n`, 0o600);
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      // nft refused the script: its transaction changed nothing, the last ruleset stays in force,
      // and the ETag is not advanced, so the next poll tries again.
      if (err instanceof EgressToolError) logger.log('error', 'egress_rules_not_applied', { error: err.message, version: current?.version });
      else logger.log('warn', 'egress_rules_unavailable', { error: (err as Error).message, version: current?.version });
      return false;
    }
  };

  if (!(await poll(5000))) {
    const saved = (() => {
      try {
        return readSaved(savedPath);
      } catch (err) {
        logger.log('warn', 'egress_saved_rules_unreadable', { error: (err as Error).message });
        return undefined;
      }
    })();
    if (saved) {
      await apply(saved.feed, 'disk');
      etag = saved.etag;
    } else {
      await apply(EMPTY_FEED, 'default');
    }
  }
  enableKernelSettings();
  logger.log('info', 'egress_node_started', { tunDevice, pollSeconds: pollMs / 1000 });

  const flowLog = new FlowLog(overlay);
  const refusedLog = new RefusedLog();
  let watcher: ChildProcess | undefined;
  const startWatcher = () => {
    watcher = watchConntrack(
      (entry) => {
        const record = flowLog.observe(entry, sources);
        if (record) options.flows.write(`${JSON.stringify(record)}\n`);
      },
      (code, stderr) => {
        if (signal.aborted) return;
        logger.log('warn', 'egress_conntrack_events_stopped', { code: code ?? -1, error: stderr });
        // Restarted after a pause; flows that end meanwhile go unlogged, enforcement is unaffected.
        setTimeout(() => signal.aborted || startWatcher(), 1000);
      },
      tools,
    );
  };
  startWatcher();
  const stopWatcher = () => watcher?.kill('SIGTERM');
  signal.addEventListener('abort', stopWatcher, { once: true });

  try {
    while (!signal.aborted) {
      await sleep(pollMs, signal);
      if (signal.aborted) break;
      await poll(10_000);
      try {
        for (const record of refusedLog.observe(parseRefusedSet(await listRefusedSet(tools)), sources, new Date())) {
          options.flows.write(`${JSON.stringify(record)}\n`);
        }
      } catch (err) {
        logger.log('warn', 'egress_refused_set_unreadable', { error: (err as Error).message });
      }
    }
  } finally {
    stopWatcher();
  }
  logger.log('info', 'egress_node_stopped', { version: current?.version });
  return 0;
}
