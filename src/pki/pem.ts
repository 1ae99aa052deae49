import { PkiError } from './errors';

export const CERTIFICATE_BANNER = 'NEBULA CERTIFICATE';
export const ED25519_PRIVATE_KEY_BANNER = 'NEBULA ED25519 PRIVATE KEY';
export const ED25519_PUBLIC_KEY_BANNER = 'NEBULA ED25519 PUBLIC KEY';
export const X25519_PRIVATE_KEY_BANNER = 'NEBULA X25519 PRIVATE KEY';
export const X25519_PUBLIC_KEY_BANNER = 'NEBULA X25519 PUBLIC KEY';

/** One PEM block: its banner (the word after BEGIN) and its decoded bytes. */
export interface PemBlock {
  readonly banner: string;
  readonly bytes: Buffer;
}

/**
 * PEM as Go's encoding/pem writes it (and nebula-cert therefore): standard base64 with padding
 * in 64-character lines, no headers, a newline after the END line.
 */
export function encodePem(banner: string, bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${banner}-----\n${body}-----END ${banner}-----\n`;
}

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';
const BASE64_CHARS = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') BASE64_CHARS[c.charCodeAt(0)] = 1;

/** Standard base64 with padding, any whitespace between characters; one pass, no copies. */
function checkBase64(body: string, banner: string): void {
  let count = 0;
  let padding = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (c === 61) {
      padding++;
    } else if (c < 128 && BASE64_CHARS[c] === 1 && padding === 0) {
      count++;
    } else {
      throw new PkiError('invalid-pem', `PEM block ${banner} is not valid base64`);
    }
  }
  if (padding > 2 || (count + padding) % 4 !== 0) throw new PkiError('invalid-pem', `PEM block ${banner} is not valid base64`);
}

/**
 * Every PEM block of `text`, in order. Only whitespace may surround or separate blocks (a
 * stricter reading than Go's, which skips any text between blocks): a stray line in a CA bundle
 * is more likely a mistake than a comment. Headers (`Key: value`) are refused; nebula writes none.
 */
export function decodePemBlocks(text: string): PemBlock[] {
  if (typeof text !== 'string') throw new PkiError('invalid-pem', 'PEM input must be text');
  const blocks: PemBlock[] = [];
  let pos = 0;
  for (;;) {
    const begin = text.indexOf(BEGIN, pos);
    if (begin < 0) break;
    outsideText(text.slice(pos, begin));
    const bannerEnd = text.indexOf(DASHES, begin + BEGIN.length);
    const lineEnd = text.indexOf('\n', begin);
    if (bannerEnd < 0 || (lineEnd >= 0 && lineEnd < bannerEnd)) throw new PkiError('invalid-pem', 'PEM BEGIN line is not closed by -----');
    const banner = text.slice(begin + BEGIN.length, bannerEnd);
    const bodyStart = bannerEnd + DASHES.length;
    const end = text.indexOf(END, bodyStart);
    if (end < 0) throw new PkiError('invalid-pem', `PEM block ${banner} has no END line`);
    const finishEnd = text.indexOf(DASHES, end + END.length);
    if (finishEnd < 0) throw new PkiError('invalid-pem', `PEM block ${banner} has no END line`);
    const finish = text.slice(end + END.length, finishEnd);
    if (finish !== banner) throw new PkiError('invalid-pem', `PEM block BEGIN ${banner} ends with END ${finish}`);
    const body = text.slice(bodyStart, end);
    if (body.includes(':')) throw new PkiError('invalid-pem', `PEM block ${banner} has headers; nebula PEM has none`);
    checkBase64(body, banner);
    // Buffer's base64 decoder skips the line breaks checkBase64 allowed.
    blocks.push({ banner, bytes: Buffer.from(body, 'base64') });
    pos = finishEnd + DASHES.length;
  }
  if (blocks.length === 0) throw new PkiError('invalid-pem', 'input did not contain a valid PEM encoded block');
  outsideText(text.slice(pos));
  return blocks;
}

function outsideText(gap: string): void {
  if (gap.trim() !== '') throw new PkiError('invalid-pem', `unexpected text outside PEM blocks: ${JSON.stringify(gap.trim().slice(0, 40))}`);
}

/** The bytes of the single PEM block in `text`, which must carry `banner`. */
export function decodePem(text: string, banner: string): Buffer {
  const blocks = decodePemBlocks(text);
  if (blocks.length !== 1) throw new PkiError('invalid-pem', `expected one PEM block, found ${blocks.length}`);
  if (blocks[0].banner !== banner) {
    throw new PkiError('invalid-pem', `expected a ${banner} PEM block, found ${blocks[0].banner}`);
  }
  return blocks[0].bytes;
}
