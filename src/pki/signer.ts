/**
 * Something that holds a CA's Ed25519 private key and signs with it: a local key in memory, or
 * a key that never leaves KMS. Signatures are pure Ed25519 (RFC 8032) over the message bytes.
 */
export interface Signer {
  /**
   * The raw 32-byte Ed25519 public key that verifies this signer's signatures. It must never
   * change for a given Signer object: createCA/signCertificate ask once per object and cache it.
   */
  publicKey(): Promise<Uint8Array>;
  /** A 64-byte Ed25519 signature over `message`. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}
