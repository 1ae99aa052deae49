import { checkTlsPair, type TlsPair, tlsPairDigest, type TlsPairInfo } from './tls-pair';
import type { TlsSource } from './tls-source';

/**
 * Certificate renewal without a restart: reads the TLS source again every `intervalMs` (and on
 * demand, e.g. SIGHUP), and when its content changed and the new pair passes `checkTlsPair`,
 * hands it to `apply` (the proxy's `setTls`, i.e. tls.Server#setSecureContext): new handshakes
 * get the new certificate, connections already open keep theirs. A pair that fails the check,
 * or that `apply` refuses, is logged once and the current one stays.
 */

/** How often the source is read again: a renewed certificate is served within this. */
export const DEFAULT_TLS_RELOAD_INTERVAL_MS = 15 * 60_000;

export interface TlsReloaderOptions {
  readonly source: TlsSource;
  readonly domain: string;
  /** Installs a checked pair for new connections; throws if the TLS stack refuses it. */
  readonly apply: (pair: TlsPair) => void;
  /** One line per event (replaced, refused, unreadable); never key material. */
  readonly log: (line: string) => void;
  /** @default DEFAULT_TLS_RELOAD_INTERVAL_MS (15 minutes) */
  readonly intervalMs?: number;
  readonly clock?: () => Date;
}

export type TlsReloadOutcome = 'unchanged' | 'replaced' | 'refused' | 'unreadable';

export class TlsReloader {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<TlsReloadOutcome> | undefined;
  /** The content last looked at (served or refused), so that a refusal is logged once. */
  private lastDigest: string;

  /** `current`: the pair being served, as it was read from the source at start. */
  constructor(
    private readonly options: TlsReloaderOptions,
    current: TlsPair,
    private served: TlsPairInfo,
  ) {
    this.lastDigest = tlsPairDigest(current);
  }

  /** What is being served now. */
  get current(): TlsPairInfo {
    return this.served;
  }

  /** Reads the source every interval until `stop()`; the timer does not keep the process alive. */
  start(): void {
    this.timer ??= setInterval(() => void this.reload(), this.options.intervalMs ?? DEFAULT_TLS_RELOAD_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the source once and acts on it; overlapping calls share one read. */
  reload(): Promise<TlsReloadOutcome> {
    this.running ??= this.readAndApply().finally(() => (this.running = undefined));
    return this.running;
  }

  private async readAndApply(): Promise<TlsReloadOutcome> {
    const { source, domain, log } = this.options;
    const keeping = `keeping certificate ${this.served.fingerprint} (valid until ${this.served.notAfter.toISOString()})`;
    let pair: TlsPair;
    try {
      pair = await source.read();
    } catch (err) {
      log(`TLS reload: ${(err as Error).message}; ${keeping}`);
      return 'unreadable';
    }
    const digest = tlsPairDigest(pair);
    if (digest === this.lastDigest) return 'unchanged';
    this.lastDigest = digest;
    let info: TlsPairInfo;
    try {
      info = checkTlsPair(pair, domain, (this.options.clock ?? (() => new Date()))());
      this.options.apply(pair);
    } catch (err) {
      log(`TLS reload: refusing the new certificate from ${source.description}: ${(err as Error).message}; ${keeping}`);
      return 'refused';
    }
    log(`TLS reload: now serving certificate ${info.fingerprint} (valid until ${info.notAfter.toISOString()}) from ${source.description}, in place of ${this.served.fingerprint}`);
    this.served = info;
    return 'replaced';
  }
}
