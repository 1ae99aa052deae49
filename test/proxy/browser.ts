import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';

/**
 * One page of headless Chromium, driven by puppeteer-core in a child process
 * (browser-driver.mjs: puppeteer-core is ESM-only, which jest's module registry cannot load).
 * Functions given to `evaluate` run in the page, so they may use only their JSON arguments.
 */

/** What `text()` reads in the page (the project compiles against Node's types only). */
declare const document: { body: { innerText: string } };

export interface Navigation {
  readonly status: number;
  readonly url: string;
}

export interface BrowserCookie {
  readonly name: string;
  readonly domain: string;
  readonly httpOnly: boolean;
  readonly secure: boolean;
  readonly sameSite?: string;
}

export class BrowserPage {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message: { id: number; value?: unknown; error?: string }) => {
      const pending = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(`browser: ${message.error}`));
      else pending?.resolve(message.value);
    });
    child.on('exit', (code) => {
      for (const pending of this.waiting.values()) pending.reject(new Error(`browser driver exited (${code})`));
      this.waiting.clear();
    });
  }

  /** Starts Debian's Chromium headless with `args` and a fresh profile in `userDataDir`. */
  static async launch(options: { args: string[]; userDataDir: string; viewport: { width: number; height: number } }): Promise<BrowserPage> {
    const child = fork(join(__dirname, 'browser-driver.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    const page = new BrowserPage(child);
    await page.call('launch', { executablePath: '/usr/bin/chromium', ...options });
    return page;
  }

  goto(url: string): Promise<Navigation> {
    return this.call('goto', { url }) as Promise<Navigation>;
  }

  reload(): Promise<Navigation> {
    return this.call('reload', {}) as Promise<Navigation>;
  }

  /** Runs `fn(arg)` in the page and returns its (awaited, JSON) result. */
  evaluate<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R> {
    return this.call('evaluate', { expression: `(${fn.toString()})(${JSON.stringify(arg)})` }) as Promise<R>;
  }

  /** Runs `fn(arg)` in the page, which navigates (a click, a form), and waits for the next page. */
  navigateBy<A>(fn: (arg: A) => void, arg: A): Promise<Navigation> {
    return this.call('navigateBy', { expression: `(${fn.toString()})(${JSON.stringify(arg)})` }) as Promise<Navigation>;
  }

  /** The text the page shows (`document.body.innerText`). */
  text(): Promise<string> {
    return this.evaluate(() => document.body.innerText, null);
  }

  screenshot(path: string): Promise<void> {
    return this.call('screenshot', { path }) as Promise<void>;
  }

  cookies(): Promise<BrowserCookie[]> {
    return this.call('cookies', {}) as Promise<BrowserCookie[]>;
  }

  async close(): Promise<void> {
    if (!this.child.connected) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.call('close', {}).catch(() => undefined);
    this.child.disconnect();
    await exited;
  }

  private call(op: string, args: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, op, ...args });
    });
  }
}
