import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { parseGoDuration, parseIpv4Prefix, PkiError } from '../../pki';
import { UsageError } from '../command';

/** Flag and file handling shared by `ca create`, `keygen` and `cert ...`, nebula-cert style. */

/** A comma-separated flag value, entries trimmed, empty ones dropped (as nebula-cert does). */
export function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Comma-separated IPv4 CIDRs; the first bad one is a UsageError naming the flag. */
export function prefixList(flag: string, value: string | undefined): string[] {
  const list = splitList(value);
  for (const entry of list) {
    try {
      parseIpv4Prefix(entry);
    } catch (err) {
      throw new UsageError(`flag --${flag}: ${(err as PkiError).message}`);
    }
  }
  return list;
}

/** A Go duration flag (`8760h`, `1h30m`) in milliseconds, or `fallback` when absent. */
export function durationFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  try {
    return parseGoDuration(value);
  } catch (err) {
    throw new UsageError(`flag --${flag}: ${(err as PkiError).message}`);
  }
}

/** The text of the file a flag names; a missing or unreadable file is reported with the flag. */
export function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`error while reading --${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Runs a parser over a flag's file, prefixing its PkiError with the flag, like nebula-cert. */
export function parseFlagFile<T>(flag: string, path: string, parse: (text: string) => T): T {
  const text = readFlagFile(flag, path);
  try {
    return parse(text);
  } catch (err) {
    throw new PkiError((err as PkiError).code ?? 'invalid-pem', `error while parsing --${flag} ${path}: ${(err as Error).message}`);
  }
}

export interface OutputFile {
  /** What the file is, for the refusal message: `CA key`, `cert`, ... */
  readonly what: string;
  readonly path: string;
  readonly content: string;
  /** 0o600 for private keys. */
  readonly mode: number;
}

/**
 * Writes all files or none: any that exists already is refused before anything is written
 * (nebula-cert refuses to overwrite), and each is created exclusively with its mode.
 */
export function writeNewFiles(files: readonly OutputFile[]): void {
  for (const file of files) {
    if (existsSync(file.path)) throw new Error(`refusing to overwrite existing ${file.what}: ${file.path}`);
  }
  const written: string[] = [];
  try {
    for (const file of files) {
      writeFileSync(file.path, file.content, { flag: 'wx', mode: file.mode });
      written.push(file.path);
    }
  } catch (err) {
    for (const path of written) unlinkSync(path);
    throw new Error(`error while writing output: ${(err as Error).message}`);
  }
}
