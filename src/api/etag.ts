import { createHash } from 'node:crypto';

/** A strong ETag for `text`: a hash of it, so equal bodies share a tag. */
export function etagOf(text: string): string {
  return `"${createHash('sha256').update(text).digest('base64url')}"`;
}

/** Whether an `If-None-Match` header value matches `etag` (weak comparison, lists and `*`). */
export function ifNoneMatchMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/** 128 bits of SHA-256 of `text`, base64url (22 characters): names content in a config ETag. */
export function contentPart(text: string): string {
  return createHash('sha256').update(text).digest().subarray(0, 16).toString('base64url');
}

/**
 * A host config's ETag names its two parts apart: `"<host part>.<blocklist part>"`. The host part
 * hashes everything but the blocklist (the host's certificate, the CA, lighthouses, policy, ...);
 * the blocklist part hashes the blocklist. Both are content hashes, so every server task and
 * Lambda names the same config alike, and a client whose tag differs only in the blocklist part
 * can be sent the blocklist change alone.
 */
export interface ConfigTag {
  readonly hostPart: string;
  readonly blocklistPart: string;
}

export function configEtag(tag: ConfigTag): string {
  return `"${tag.hostPart}.${tag.blocklistPart}"`;
}

const CONFIG_ETAG = /^(?:W\/)?"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})"$/;

/** The config tag an `If-None-Match` names, when it names exactly one; anything else: undefined. */
export function parseConfigEtag(header: string | undefined): ConfigTag | undefined {
  const match = header === undefined ? null : CONFIG_ETAG.exec(header.trim());
  return match ? { hostPart: match[1], blocklistPart: match[2] } : undefined;
}
