import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { TlsPair } from './tls-pair';

/**
 * Where the proxy's certificate and key come from, read again at every reload: a pair of PEM
 * files (written by certbot, lego or a deploy step), or a Secrets Manager secret
 * `{"certificate": "<PEM chain>", "privateKey": "<PEM key>"}` (what lib/ deploys).
 */
export interface TlsSource {
  /** Names the source in log lines (paths or the secret's ARN; never content). */
  readonly description: string;
  read(): Promise<TlsPair>;
}

/** The source could not be read, or did not hold a pair; the message holds no secret. */
export class TlsSourceError extends Error {
  constructor(
    message: string,
    options?: { cause?: unknown },
    /** Which half could not be read, when the source keeps them apart (files). */
    readonly part?: 'certificate' | 'key',
  ) {
    super(message, options);
    this.name = 'TlsSourceError';
  }
}

export class FileTlsSource implements TlsSource {
  readonly description: string;

  constructor(
    private readonly certPath: string,
    private readonly keyPath: string,
  ) {
    this.description = `${certPath} and ${keyPath}`;
  }

  async read(): Promise<TlsPair> {
    const cert = await this.file(this.certPath, 'certificate');
    const key = await this.file(this.keyPath, 'key');
    return { cert, key };
  }

  private async file(path: string, part: 'certificate' | 'key'): Promise<string> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new TlsSourceError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err }, part);
    }
  }
}

/** A Secrets Manager secret's full ARN (its region is where the client asks). */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;

/** The region named in a secret ARN, or undefined when `arn` is not one. */
export function secretArnRegion(arn: string): string | undefined {
  return SECRET_ARN.exec(arn)?.[1];
}

export class SecretsManagerTlsSource implements TlsSource {
  readonly description: string;

  constructor(
    private readonly secretArn: string,
    private readonly client: SecretsManagerClient = new SecretsManagerClient({ region: secretArnRegion(secretArn) }),
  ) {
    this.description = `secret ${secretArn}`;
  }

  async read(): Promise<TlsPair> {
    let text: string | undefined;
    try {
      text = (await this.client.send(new GetSecretValueCommand({ SecretId: this.secretArn }))).SecretString;
    } catch (err) {
      throw new TlsSourceError(`cannot read ${this.description}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text ?? '');
    } catch {
      // No cause: JSON.parse's message quotes the secret.
      throw new TlsSourceError(`${this.description} is not JSON {"certificate": "<PEM chain>", "privateKey": "<PEM key>"}`);
    }
    const { certificate, privateKey } = (value ?? {}) as Record<string, unknown>;
    if (typeof certificate !== 'string' || typeof privateKey !== 'string') {
      throw new TlsSourceError(`${this.description} needs string fields certificate and privateKey`);
    }
    return { cert: certificate, key: privateKey };
  }
}
