import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every case that ever made the differential fuzzer fail, one JSON object per line, replayed by
 * the test suite on every run. `bytes` is the message as a Latin-1 string (JSON escapes the
 * control bytes, so the file stays readable and diffable).
 */
export interface CorpusCase {
  kind: 'request' | 'response';
  bytes: string;
  /** For a response case, the method of the request it answers (GET when absent). */
  method?: 'HEAD';
  /** What went wrong when it was found, and where it came from (a seed, or issue 9). */
  found: string;
}

export const CORPUS_FILE = join(__dirname, 'corpus.jsonl');

/** The proxy host name in request cases; replaced by the running harness's own. */
export const HOST_PLACEHOLDER = '{{host}}';

export function loadCorpus(file = CORPUS_FILE): CorpusCase[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CorpusCase);
}

export function appendToCorpus(entry: CorpusCase, file = CORPUS_FILE): void {
  appendFileSync(file, `${JSON.stringify(entry)}\n`);
}
