export type LogFormat = 'text' | 'json';
export type LogLevel = 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>;

/** One line per event; `event` is a stable snake_case name tests and operators can match. */
export interface AgentLogger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

const SECRET_FIELD = /token|credential|secret|password|private|^key$/i;
const SECRET_TEXT = [/gw[aeh]_[A-Za-z0-9_-]+/g, /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g];

/**
 * Writes events to `stream` as text (`time level event k=v …`) or JSON. Secrets never reach the
 * log: fields named like secrets are dropped to `[redacted]`, and any value that looks like an
 * API token or a private key PEM (say, inside an error message) is masked.
 */
export function createLogger(format: LogFormat, stream: { write(line: string): unknown }, now: () => Date = () => new Date()): AgentLogger {
  return {
    log(level, event, fields = {}) {
      const clean: Record<string, string | number | boolean | readonly string[]> = {};
      for (const [name, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        clean[name] = SECRET_FIELD.test(name) ? '[redacted]' : redact(value);
      }
      const time = now().toISOString();
      if (format === 'json') {
        stream.write(`${JSON.stringify({ time, level, event, ...clean })}\n`);
      } else {
        const pairs = Object.entries(clean).map(([k, v]) => `${k}=${formatText(v)}`);
        stream.write(`${[time, level, event, ...pairs].join(' ')}\n`);
      }
    },
  };
}

function redact<T extends string | number | boolean | readonly string[]>(value: T): T {
  if (typeof value === 'string') return SECRET_TEXT.reduce((s, pattern) => s.replace(pattern, '[redacted]'), value as string) as T;
  if (Array.isArray(value)) return value.map((v) => redact(v as string)) as unknown as T;
  return value;
}

function formatText(value: string | number | boolean | readonly string[]): string {
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return /^[^\s"=]*$/.test(text) && text !== '' ? text : JSON.stringify(text);
}
