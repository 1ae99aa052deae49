import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient, ApiError, type ConfigDelta, type ConfigPoll, type HostMaterial } from './api-client';
import { writeFileAtomic } from './atomic-file';
import { type BackoffPolicy, DEFAULT_BACKOFF, backoffDelay } from './backoff';
import type { AgentLogger, LogFormat } from './logger';
import { readCertificateFacts } from './certificate-facts';
import { generateHostKeyPair, type HostKeyPair, publicKeyPemFor } from './keys';
import { lighthousesThatClosed, nudgeLighthouse } from './lighthouse-nudge';
import { renderLocalConfig } from './local-config';
import { NebulaProcess, testNebulaConfig } from './nebula-process';
import { decideNebulaAction } from './reload-decision';
import { patchBlocklist } from './config-patch';
import { DEFAULT_KEY_ROTATION_DAYS, keyRotationDue, msUntilRenewal, tunnelRefreshTime } from './renewal';
import { sleep } from './sleep';
import { consoleCommand, readConsole } from './status-console';
import { HandoverError, handOverTunnels, peersClosedSinceReload } from './tunnel-handover';
import { AgentStateError, type AgentIdentity, agentPaths, prepareConfig, readAppliedConfig, readIdentity, writeIdentity, writePreparedConfig } from './state-dir';
import { DEFAULT_FALLBACK_POLL_MS, DEFAULT_WATCH_BACKOFF, MIN_WATCH_ROUND_MS, fallbackDelay, watchTarget } from './watch-policy';

export interface RunOptions {
  readonly dir: string;
  /** The nebula binary. @default 'nebula' */
  readonly nebulaBinary?: string;
  /** Also sets nebula's `logging.format`. */
  readonly logFormat?: LogFormat;
  readonly logger: AgentLogger;
  readonly backoff?: BackoffPolicy;
  /** Long-poll length asked of the watch endpoint (it caps at 60). @default 55 */
  readonly waitSeconds?: number;
  /** How often the API is polled while the watch endpoint is down (jittered). @default 5 min */
  readonly fallbackPollMs?: number;
  /** Retries of a failed watch endpoint. @default 1 s doubling to 1 min, full jitter */
  readonly watchBackoff?: BackoffPolicy;
  /** A renewal makes a new host key once the key file is this many days old; 0: at every renewal. @default 30 (DEFAULT_KEY_ROTATION_DAYS) */
  readonly keyRotationDays?: number;
  /** Registers the listener called when a key rotation is asked for now (SIGUSR2 in the CLI): the agent renews at once with a new key. */
  readonly onKeyRotationRequest?: (listener: () => void) => void;
  /** The OpenSSH client that reaches nebula's console for tunnel handovers. @default 'ssh' */
  readonly sshBinary?: string;
  /** Aborting stops the agent (SIGTERM/SIGINT in the CLI). */
  readonly signal: AbortSignal;
}

/** Exit status when the API refuses this host (revoked, unknown, bad credential): re-enrolling is the way out. */
export const EXIT_HOST_REJECTED = 3;

/** Poll interval when the API answers without an ETag (long-polling needs one). */
const NO_ETAG_POLL_MS = 10_000;

/** How long a key switch waits for nebula to say it reloaded the new certificate before giving up on it. */
const KEY_SWITCH_WAIT_MS = 10_000;

/** Attempts to tell the API the new certificate is in use before leaving the old one to expire. */
const CONFIRM_ATTEMPTS = 8;

/** How often nebula's log is read for lighthouses closing their tunnel with this host. */
const LIGHTHOUSE_WATCH_INTERVAL_MS = 250;

/** The line nebula 1.6 logs when a SIGHUP reloaded its certificate and key (with the certificate's fingerprint). */
const CERT_RELOADED = 'Client cert refreshed from disk';

type Applied = ReturnType<typeof readAppliedConfig> & object;

/**
 * `gateway agent run`: keeps nebula running on the enrolled config and the config current.
 * Three loops share one serial queue for everything that touches files or the process:
 * the watch (a long-poll of the watch URL the API names, re-issued at once after each answer, so
 * revocations arrive within a round trip; while it fails, slow polls of the API and retries of the
 * watch with backoff), renewal at two thirds of the certificate's life, and a supervisor that
 * restarts nebula if it dies. While the API is unreachable the running mesh is left alone.
 */
export async function runAgent(options: RunOptions): Promise<number> {
  return new Agent(options).run();
}

class Agent {
  private readonly paths;
  private identity: AgentIdentity;
  private readonly client: ApiClient;
  private watcher: { url: string; client: ApiClient } | undefined;
  private readonly nebula: NebulaProcess;
  private readonly binary: string;
  private readonly log: AgentLogger['log'];
  private applied: Applied;
  private queue: Promise<unknown> = Promise.resolve();
  private certificateChanged = new AbortController();
  /** When nebula must restart because its tunnels may still carry a replaced certificate. */
  private refreshAt?: number;
  private refreshChanged = new AbortController();
  private readonly halt = new AbortController();
  private exitCode = 0;
  /** When nebula was last started here, and when a certificate was last written: a start after the write runs on it. */
  private startedAt?: number;
  private certificateInstalledAt = 0;
  /** Bumped at every certificate install: a handover counts only if no newer certificate came meanwhile. */
  private certificateGeneration = 0;
  /** Tunnel handovers run one after another, outside the serial queue (they take a few console round trips). */
  private handovers: Promise<void> = Promise.resolve();
  /** A key rotation was asked for: renew now, with a new key. */
  private rotationRequested = false;
  private renewNow = new AbortController();

  constructor(private readonly options: RunOptions) {
    this.paths = agentPaths(options.dir);
    this.identity = readIdentity(this.paths);
    const applied = readAppliedConfig(this.paths);
    if (!applied) throw new AgentStateError(`${this.paths.config} is missing: run 'gateway agent enroll' first`);
    this.applied = applied;
    this.client = new ApiClient({ baseUrl: this.identity.api, caPem: this.identity.apiCa, nebulaBinary: options.nebulaBinary ?? 'nebula' });
    this.binary = options.nebulaBinary ?? 'nebula';
    this.nebula = new NebulaProcess({ binary: this.binary, configPath: this.paths.config, pidPath: this.paths.pid, logPath: this.paths.nebulaLog });
    this.log = options.logger.log.bind(options.logger);
  }

  async run(): Promise<number> {
    this.options.onKeyRotationRequest?.(() => {
      this.log('info', 'key_rotation_requested', {});
      this.rotationRequested = true;
      this.renewNow.abort();
    });
    const onStop = () => this.halt.abort();
    this.options.signal.addEventListener('abort', onStop, { once: true });
    if (this.options.signal.aborted) this.halt.abort();
    this.log('info', 'agent_started', { hostId: this.identity.hostId, ip: this.applied.certificateIp, dir: this.paths.dir });
    if (this.nebula.adopt()) this.log('info', 'nebula_adopted', { pid: this.nebula.processId });
    await Promise.all([this.supervise(), this.poll(), this.renew(), this.refreshTunnels(), this.reintroduceToLighthouses()]);
    await this.queue.catch(() => undefined);
    await this.handovers;
    // An adopted nebula outlives this agent, unless the host was refused: its mesh is over then.
    if (this.nebula.ownsProcess || (this.exitCode === EXIT_HOST_REJECTED && this.nebula.running)) {
      await this.nebula.stop();
      this.log('info', 'nebula_stopped', {});
    }
    this.log('info', 'agent_stopped', { exitCode: this.exitCode });
    return this.exitCode;
  }

  private get stopping(): boolean {
    return this.halt.signal.aborted;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Starts nebula when none runs, and again whenever it dies, with backoff on repeated failures. */
  private async supervise(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const started = await this.serial(async () => {
        if (this.stopping || this.nebula.running) return true;
        try {
          const pid = await this.startNebula();
          this.log('info', 'nebula_started', { pid });
          return true;
        } catch (err) {
          this.log('error', 'nebula_start_failed', { error: (err as Error).message, attempt: failures + 1 });
          return false;
        }
      });
      if (started) {
        failures = 0;
        await Promise.race([this.nebula.waitForExit(), stopped(this.halt.signal)]);
        if (this.stopping) break;
        await this.queue;
        if (this.nebula.running) continue;
        this.log('warn', 'nebula_exited', {});
      } else {
        failures++;
      }
      await sleep(backoffDelay(failures, this.options.backoff ?? DEFAULT_BACKOFF), this.halt.signal);
    }
  }

  /**
   * Keeps the config current: long-polls the watch URL, re-issued at once after every change.
   * When the watch fails (refused, TLS, 5xx) the API is polled every `fallbackPollMs` instead,
   * and the watch is retried with backoff; its first answer ends the fallback. A refusal of the
   * host (401, 403) from either ends the agent.
   */
  private async poll(): Promise<void> {
    let etag: string | undefined;
    let watchFailures = 0;
    let watchRetryAt = 0;
    let apiFailures = 0;
    let apiPollAt = 0;
    while (!this.stopping) {
      const watch = this.watch();
      if (watch && Date.now() >= watchRetryAt) {
        const started = Date.now();
        try {
          // After a failure, ask once without waiting: it catches up at once and shows the watch works.
          const waitSeconds = etag && watchFailures === 0 ? (this.options.waitSeconds ?? 55) : undefined;
          const answer = await watch.client.config(this.identity.hostId, this.identity.credential, { etag, waitSeconds, signal: this.halt.signal });
          if (watchFailures > 0) this.log('info', 'watch_reachable', { url: watch.url, after: watchFailures });
          watchFailures = 0;
          etag = await this.take(answer, etag, 'watch');
          if (!answer.changed && waitSeconds) watchRetryAt = started + MIN_WATCH_ROUND_MS;
          continue;
        } catch (err) {
          if (this.stopping) break;
          if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return this.reject(err);
          const delayMs = backoffDelay(watchFailures, this.options.watchBackoff ?? DEFAULT_WATCH_BACKOFF);
          watchFailures++;
          watchRetryAt = Date.now() + delayMs;
          this.log('warn', 'watch_unreachable', { url: watch.url, error: (err as Error).message, attempt: watchFailures, retryInMs: delayMs });
        }
      }
      if (Date.now() >= apiPollAt) {
        try {
          const answer = await this.client.config(this.identity.hostId, this.identity.credential, { etag, signal: this.halt.signal });
          if (apiFailures > 0) this.log('info', 'api_reachable', { after: apiFailures });
          apiFailures = 0;
          etag = await this.take(answer, etag, 'api');
          apiPollAt = Date.now() + fallbackDelay(this.options.fallbackPollMs ?? DEFAULT_FALLBACK_POLL_MS);
        } catch (err) {
          if (this.stopping) break;
          if (err instanceof ApiError && !err.retriable) return this.reject(err);
          const delayMs = backoffDelay(apiFailures, this.options.backoff ?? DEFAULT_BACKOFF);
          apiFailures++;
          apiPollAt = Date.now() + delayMs;
          this.log('warn', this.retriable(err) ? 'api_unreachable' : 'apply_failed', { call: 'config', error: (err as Error).message, attempt: apiFailures, delayMs });
        }
      }
      const next = this.watch() ? Math.min(watchRetryAt, apiPollAt) : apiPollAt;
      await sleep(Math.max(0, next - Date.now()), this.halt.signal);
    }
  }

  /** The watch endpoint's client for the watch URL the API last named, when it may be used. */
  private watch(): { url: string; client: ApiClient } | undefined {
    const target = watchTarget(this.identity.api, this.identity.watchUrl);
    if (!target.url) return undefined;
    if (this.watcher?.url !== target.url) this.watcher = { url: target.url, client: new ApiClient({ baseUrl: target.url, caPem: this.identity.apiCa, nebulaBinary: this.binary }) };
    return this.watcher;
  }

  /** Applies a config answer; returns the ETag to send next (none after a delta that does not fit: the next answer is whole). */
  private async take(answer: ConfigPoll, etag: string | undefined, via: 'watch' | 'api'): Promise<string | undefined> {
    if (!answer.changed) return etag;
    if ('delta' in answer) {
      if (answer.delta.from !== etag) {
        this.log('warn', 'config_delta_skipped', { via, reason: 'it does not start from the applied config' });
        return undefined;
      }
      await this.serial(() => this.applyDelta(answer.delta, via));
      return answer.etag;
    }
    await this.serial(() => this.apply(answer.material, 'config', via));
    // Without an ETag the server cannot hold the next request: poll slowly instead of spinning.
    if (!answer.etag) await sleep(NO_ETAG_POLL_MS, this.halt.signal);
    return answer.etag;
  }

  /** Remembers a new watch URL from an answer (agent.json keeps it for the next start). */
  private learnWatchUrl(watchUrl: string | undefined): void {
    if (watchUrl === undefined || watchUrl === this.identity.watchUrl) return;
    const target = watchTarget(this.identity.api, watchUrl);
    if (target.refused) {
      this.log('warn', 'watch_url_refused', { url: watchUrl, reason: target.refused });
      return;
    }
    this.identity = { ...this.identity, watchUrl };
    writeIdentity(this.paths, this.identity);
    this.log('info', 'watch_url', { url: watchUrl });
  }

  /** Renews at two thirds of the certificate's life; a certificate arriving by the long-poll reschedules. */
  private async renew(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const changed = this.certificateChanged.signal;
      const delay = failures > 0 ? backoffDelay(failures, this.options.backoff ?? DEFAULT_BACKOFF) : msUntilRenewal(this.applied.notBefore, this.applied.notAfter, new Date());
      if (failures === 0) this.log('info', 'renewal_scheduled', { at: new Date(Date.now() + delay).toISOString(), notAfter: this.applied.notAfter.toISOString() });
      await sleep(this.rotationRequested && failures === 0 ? 0 : delay, AbortSignal.any([this.halt.signal, changed, this.renewNow.signal]));
      if (this.stopping) break;
      if (this.renewNow.signal.aborted) this.renewNow = new AbortController();
      if (changed.aborted && !this.rotationRequested) {
        failures = 0;
        continue;
      }
      let nextKey: HostKeyPair | undefined;
      try {
        nextKey = this.keyRotationDue() ? this.nextKeyPair() : undefined;
        const material = await this.client.renew(this.identity.hostId, this.identity.credential, this.halt.signal, nextKey?.publicKeyPem);
        await this.serial(() => this.apply(material, 'renewal'));
        if (nextKey) {
          this.rotationRequested = false;
          await this.finishKeyRotation(material);
        }
        // A renewal that did not move the renewal time would spin: back off as after a failure.
        failures = msUntilRenewal(this.applied.notBefore, this.applied.notAfter, new Date()) > 0 ? 0 : failures + 1;
        if (failures > 0) this.log('warn', 'renewal_ineffective', { notAfter: this.applied.notAfter.toISOString(), attempt: failures });
      } catch (err) {
        if (this.stopping) break;
        if (nextKey && err instanceof ApiError && err.status === 409) {
          // The new key was refused (another host's): make another one at the next attempt.
          rmSync(this.paths.nextKey, { force: true });
        } else if (err instanceof ApiError && !err.retriable) {
          return this.reject(err);
        }
        failures++;
        this.log('warn', this.retriable(err) ? 'api_unreachable' : 'apply_failed', { call: 'renew', error: (err as Error).message, attempt: failures });
      }
    }
  }

  /** Whether this renewal should carry a new key: the key file is older than the rotation interval. */
  private keyRotationDue(): boolean {
    if (this.rotationRequested || existsSync(this.paths.nextKey)) return true;
    // A missing key file is due too: the renewal then brings a key and certificate that match again.
    if (!existsSync(this.paths.key)) return true;
    return keyRotationDue(statSync(this.paths.key).mtime, new Date(), this.options.keyRotationDays ?? DEFAULT_KEY_ROTATION_DAYS);
  }

  /**
   * The rotation's new key pair: the one a failed attempt left in host.key.next (the API may
   * already hold it as this host's: one key, one host), else a new one written there, 0600.
   */
  private nextKeyPair(): HostKeyPair {
    if (existsSync(this.paths.nextKey)) {
      const privateKeyPem = readFileSync(this.paths.nextKey, 'utf8');
      return { privateKeyPem, publicKeyPem: publicKeyPemFor(privateKeyPem) };
    }
    const pair = generateHostKeyPair();
    writeFileAtomic(this.paths.nextKey, pair.privateKeyPem, 0o600);
    this.log('info', 'host_key_generated', { path: this.paths.nextKey, reason: 'rotation' });
    return pair;
  }

  /**
   * After a renewal for a new key was installed: once nebula runs on it, the new key becomes
   * host.key (the old key's file content is gone with that rename), and the API is told the new
   * certificate is in use, which blocklists the old one everywhere. Peers then tear down the
   * tunnels made with the old certificate (pki.disconnect_invalid) and handshake again with the
   * new one, while packets wait in nebula's handshake queue: no restart, nothing lost. Should the
   * API not hear of it, the old certificate simply expires, and the tunnel refresh the install
   * scheduled still happens before it does.
   */
  private async finishKeyRotation(material: HostMaterial): Promise<void> {
    const fingerprint = await this.serial(() => this.switchToNextKey(material));
    if (!fingerprint) return;
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        const retired = await this.client.certificateInUse(this.identity.hostId, this.identity.credential, fingerprint, this.halt.signal);
        this.log('info', 'key_rotated', { fingerprint, retired });
        // Peers drop every tunnel made with a retired certificate: no restart needed for them.
        this.scheduleTunnelRefresh(undefined);
        return;
      } catch (err) {
        if (this.stopping) return;
        const refused = err instanceof ApiError && !err.retriable;
        if (refused && (err.status === 401 || err.status === 403)) return this.reject(err);
        if (refused || attempt >= CONFIRM_ATTEMPTS) {
          this.log('warn', 'key_rotation_unconfirmed', { fingerprint, error: (err as Error).message, attempt });
          return;
        }
        await sleep(backoffDelay(attempt, this.options.backoff ?? DEFAULT_BACKOFF), this.halt.signal);
      }
    }
  }

  /** Makes host.key the new key once nebula runs on the certificate for it; returns that certificate's fingerprint, or undefined when it does not (yet). */
  private async switchToNextKey(material: HostMaterial): Promise<string | undefined> {
    const pki = (this.applied.config as { pki?: { cert?: unknown; key?: unknown } }).pki;
    const applied = typeof pki?.cert === 'string' ? readCertificateFacts(pki.cert) : undefined;
    if (pki?.key !== this.paths.nextKey || !applied || applied.fingerprint !== readCertificateFacts(material.certificate).fingerprint) {
      this.log('error', 'key_switch_failed', { reason: 'the certificate for the new key was not installed' });
      return undefined;
    }
    if (this.nebula.running && !(await this.nebulaReloaded(applied.fingerprint, this.nebula.processId))) {
      this.log('error', 'key_switch_failed', { reason: `nebula did not report reloading certificate ${applied.fingerprint}`, log: this.paths.nebulaLog });
      return undefined;
    }
    // The key file first, then the config that names it: at every moment the config's key file holds the config certificate's key.
    writeFileAtomic(this.paths.key, readFileSync(this.paths.nextKey), 0o600);
    const config = { ...(this.applied.config as Record<string, unknown>), pki: { ...pki, key: this.paths.key } };
    writeFileAtomic(this.paths.config, renderLocalConfig(config));
    this.applied = { ...this.applied, config };
    rmSync(this.paths.nextKey, { force: true });
    this.log('info', 'host_key_switched', { fingerprint: applied.fingerprint, path: this.paths.key });
    return applied.fingerprint;
  }

  /**
   * Whenever a lighthouse closes its tunnel with this host (it dropped a retired certificate's
   * tunnel after a key rotation, or handed its tunnels over to its own renewed certificate), and
   * this host's address with it: handshake with it again at once so it can answer for this host
   * (see lighthouse-nudge.ts). Reads only what nebula appended to its log since the last look.
   */
  private async reintroduceToLighthouses(): Promise<void> {
    const log = new LogFollower(this.paths.nebulaLog);
    while (!this.stopping) {
      await sleep(LIGHTHOUSE_WATCH_INTERVAL_MS, this.halt.signal);
      const fresh = log.newLines();
      const lighthouses = (this.applied.config as { lighthouse?: { hosts?: unknown } }).lighthouse?.hosts;
      if (fresh.length === 0 || !Array.isArray(lighthouses)) continue;
      for (const ip of lighthousesThatClosed(fresh, lighthouses as string[])) {
        await nudgeLighthouse(ip);
        this.log('info', 'lighthouse_nudged', { lighthouse: ip });
      }
    }
  }

  /** Waits (bounded) until nebula's log says it reloaded the certificate `fingerprint`, or nebula was started on it ('started': not the process `pid` any more). */
  private async nebulaReloaded(fingerprint: string, pid: number | undefined): Promise<'reloaded' | 'started' | false> {
    const until = Date.now() + KEY_SWITCH_WAIT_MS;
    while (!this.stopping) {
      if (this.nebula.processId !== pid || (this.startedAt !== undefined && this.startedAt >= this.certificateInstalledAt)) return 'started';
      if (logTail(this.paths.nebulaLog).some((line) => line.includes(CERT_RELOADED) && line.includes(fingerprint))) return 'reloaded';
      if (Date.now() > until) return false;
      await sleep(100, this.halt.signal);
    }
    return false;
  }

  /**
   * After a renewal reloaded into nebula: once nebula logged the reload, every tunnel is made again
   * with the new certificate through nebula's console (tunnel-handover.ts), which makes the
   * restart before the replaced certificate expires unneeded. Should the console not answer or a
   * tunnel keep its old session, that restart stays scheduled.
   */
  private handOverTunnels(config: unknown): void {
    const certificate = (config as { pki?: { cert?: unknown } }).pki?.cert;
    if (typeof certificate !== 'string') return;
    const generation = this.certificateGeneration;
    const pid = this.nebula.processId;
    const fingerprint = readCertificateFacts(certificate).fingerprint;
    this.handovers = this.handovers.then(async () => {
      if (this.stopping || generation !== this.certificateGeneration) return;
      const reloaded = await this.nebulaReloaded(fingerprint, pid);
      if (reloaded === 'started' || this.stopping) return; // a fresh nebula makes every tunnel with the new certificate
      const fallback = this.refreshAt === undefined ? undefined : new Date(this.refreshAt).toISOString();
      if (!reloaded) {
        this.log('warn', 'tunnel_handover_failed', { fingerprint, reason: `nebula did not report reloading certificate ${fingerprint}`, restartAt: fallback });
        return;
      }
      try {
        const settings = readConsole(this.paths.dir);
        const lighthouses = (this.applied.config as { lighthouse?: { hosts?: unknown } }).lighthouse?.hosts;
        const io = {
          console: (command: string) => consoleCommand(settings, command, { sshBinary: this.options.sshBinary }),
          closedByPeers: () => peersClosedSinceReload(logTail(this.paths.nebulaLog), (line) => line.includes(CERT_RELOADED) && line.includes(fingerprint)),
          sleep: async (ms: number) => {
            await sleep(ms, this.halt.signal);
            if (this.stopping) throw new HandoverError('the agent is stopping');
          },
          now: Date.now,
        };
        const result = await handOverTunnels(io, Array.isArray(lighthouses) ? (lighthouses as string[]) : []);
        if (this.stopping) return;
        if (generation !== this.certificateGeneration || this.nebula.processId !== pid) return; // the next certificate or start takes over
        this.scheduleTunnelRefresh(undefined);
        this.log('info', 'tunnels_handed_over', { fingerprint, peers: result.peers.map((p) => p.vpnIp), outcomes: result.peers.map((p) => p.outcome) });
      } catch (err) {
        if (this.stopping) return;
        this.log('warn', 'tunnel_handover_failed', { fingerprint, reason: (err as Error).message, restartAt: fallback });
      }
    });
  }

  private retriable(err: unknown): boolean {
    return (err as { retriable?: boolean }).retriable === true;
  }

  /** The API refused this host for good (revoked, unknown, credential invalid): stop. */
  private reject(err: ApiError): void {
    if (this.stopping) return;
    this.log('error', 'host_rejected', { status: err.status, error: err.message });
    this.exitCode = EXIT_HOST_REJECTED;
    this.halt.abort();
  }

  private async startNebula(): Promise<number> {
    this.startedAt = Date.now();
    const pid = await this.nebula.start();
    // A fresh process makes every tunnel with the current certificate.
    this.scheduleTunnelRefresh(undefined);
    return pid;
  }

  private scheduleTunnelRefresh(at: Date | undefined): void {
    this.refreshAt = at === undefined ? undefined : Math.min(this.refreshAt ?? Infinity, at.getTime());
    this.refreshChanged.abort();
    this.refreshChanged = new AbortController();
  }

  /** Whether a config is a key rotation's first step (it names host.key.next). */
  private keyRotationInstall(config: unknown): boolean {
    return (config as { pki?: { key?: unknown } }).pki?.key === this.paths.nextKey;
  }

  /** Restarts nebula before a replaced certificate, still held by its tunnels, expires, unless a tunnel handover made that unneeded (see tunnelRefreshTime). */
  private async refreshTunnels(): Promise<void> {
    while (!this.stopping) {
      const changed = this.refreshChanged.signal;
      const delay = this.refreshAt === undefined ? 24 * 3600_000 : Math.max(0, this.refreshAt - Date.now());
      await sleep(delay, AbortSignal.any([this.halt.signal, changed]));
      if (this.stopping || changed.aborted || this.refreshAt === undefined || this.refreshAt > Date.now()) continue;
      await this.serial(async () => {
        if (this.stopping || this.refreshAt === undefined || this.refreshAt > Date.now()) return;
        if (!this.nebula.running) {
          this.refreshAt = undefined; // the supervisor's next start makes fresh tunnels anyway
          return;
        }
        await this.nebula.stop();
        try {
          const pid = await this.startNebula();
          this.log('info', 'nebula_restarted', { source: 'tunnel_refresh', action: 'restart', changed: ['replaced certificate expiring'], pid });
        } catch (err) {
          this.log('error', 'nebula_start_failed', { source: 'tunnel_refresh', error: (err as Error).message });
        }
      });
    }
  }

  /** A whole config from the API: this host's copy of it, installed if it differs. */
  private async apply(material: HostMaterial, source: 'config' | 'renewal', via: 'watch' | 'api' = 'api'): Promise<void> {
    if (material.hostId !== this.identity.hostId) throw new AgentStateError(`the API answered for host ${material.hostId}, not ${this.identity.hostId}`);
    this.learnWatchUrl(material.watchUrl);
    let prepared;
    try {
      prepared = prepareConfig(this.paths, material, { logFormat: this.options.logFormat });
    } catch (err) {
      this.log('error', 'config_rejected', { source, via, error: (err as Error).message });
      return;
    }
    await this.install(prepared, { source, via, kind: 'full' }, () => writePreparedConfig(this.paths, prepared));
  }

  /** A config delta: the running config with the blocklist patched, installed like a whole config. */
  private async applyDelta(delta: ConfigDelta, via: 'watch' | 'api'): Promise<void> {
    let patched;
    try {
      patched = patchBlocklist(this.applied.config, delta.blocklist);
    } catch (err) {
      this.log('error', 'config_rejected', { source: 'config', via, kind: 'delta', error: (err as Error).message });
      return;
    }
    const prepared = { ...this.applied, config: patched.document, yaml: patched.yaml };
    await this.install(prepared, { source: 'config', via, kind: 'delta', added: delta.blocklist.add.length, removed: delta.blocklist.remove.length }, () =>
      writeFileAtomic(this.paths.config, patched.yaml),
    );
  }

  /**
   * Writes a new config if it differs, after `nebula -test` accepts it, then reloads or
   * restarts nebula as the change requires. A config nebula rejects is logged and not applied.
   */
  private async install(prepared: Applied & { yaml: string }, about: { source: 'config' | 'renewal'; via: 'watch' | 'api'; kind: 'full' | 'delta'; [field: string]: unknown }, write: () => void): Promise<void> {
    const decision = decideNebulaAction(this.applied, prepared);
    if (decision.action === 'none') return;
    const candidate = join(this.paths.dir, `.config.candidate.${process.pid}.yml`);
    writeFileAtomic(candidate, prepared.yaml);
    const complaint = testNebulaConfig(this.binary, candidate);
    rmSync(candidate, { force: true });
    if (complaint) {
      this.log('error', 'config_rejected', { ...about, error: complaint });
      return;
    }
    write();
    const certificateChanged = prepared.notAfter.getTime() !== this.applied.notAfter.getTime() || prepared.certificateIp !== this.applied.certificateIp;
    const replaced = this.applied;
    this.applied = { config: prepared.config, certificateIp: prepared.certificateIp, notBefore: prepared.notBefore, notAfter: prepared.notAfter };
    if (certificateChanged) {
      this.certificateInstalledAt = Date.now();
      this.certificateGeneration++;
      this.certificateChanged.abort();
      this.certificateChanged = new AbortController();
    }
    const fields = { ...about, action: decision.action, changed: decision.changed, notAfter: prepared.notAfter.toISOString() };
    if (!this.nebula.running) {
      this.log('info', 'config_written', fields);
    } else if (decision.action === 'reload') {
      this.nebula.reload();
      this.log('info', 'nebula_reloaded', fields);
      if (certificateChanged) {
        // The restart is the fallback; the handover (not for a key rotation: peers drop the retired certificate's tunnels) cancels it.
        this.scheduleTunnelRefresh(tunnelRefreshTime(replaced.notBefore, replaced.notAfter));
        if (!this.keyRotationInstall(prepared.config)) this.handOverTunnels(prepared.config);
      }
    } else {
      await this.nebula.stop();
      try {
        const pid = await this.startNebula();
        this.log('info', 'nebula_restarted', { ...fields, pid });
      } catch (err) {
        this.log('error', 'nebula_start_failed', { ...fields, error: (err as Error).message });
      }
    }
  }
}

/** The last lines of a log file (nebula's: it grows, only its end matters), empty when there is none. */
function logTail(path: string, bytes = 256 * 1024): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').split('\n');
  } finally {
    closeSync(fd);
  }
}

/** Follows a growing log file: each call returns the whole lines appended since the last (none of those there at the start). */
class LogFollower {
  private offset: number;
  private partial = '';

  constructor(private readonly path: string) {
    this.offset = fileSize(path);
  }

  newLines(): string[] {
    const size = fileSize(this.path);
    if (size < this.offset) {
      // Truncated or replaced: start again from its beginning.
      this.offset = 0;
      this.partial = '';
    }
    if (size === this.offset) return [];
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return [];
    }
    try {
      const buffer = Buffer.alloc(Math.min(size - this.offset, 4 * 1024 * 1024));
      const read = readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset += read;
      const lines = (this.partial + buffer.subarray(0, read).toString('utf8')).split('\n');
      this.partial = lines.pop() ?? '';
      return lines.filter(Boolean);
    } finally {
      closeSync(fd);
    }
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function stopped(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}
