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
