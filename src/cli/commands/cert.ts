import {
  CAPool,
  encodeX25519PrivateKeyPem,
  encodeX25519PublicKeyPem,
  formatCertificateJson,
  formatCertificateText,
  generateX25519KeyPair,
  LocalSigner,
  NebulaCertificate,
  parseCertificateBundle,
  parseX25519PublicKeyPem,
  signCertificate,
} from '../../pki';
import { type CommandImpl, parseFlags, required, UsageError } from '../command';
import { durationFlag, type OutputFile, parseFlagFile, prefixList, splitList, writeNewFiles } from './pki-files';

/** `gateway cert sign`: nebula-cert sign. Signs a host public key (or a fresh key pair) under a CA. */
export const certSignCommand: CommandImpl = {
  usage: `Usage: gateway cert sign --name NAME --ip CIDR [flags]
  --name string       Required: name of the certificate, usually a hostname
  --ip string         Required: IPv4 address and network in CIDR notation, e.g. 10.42.1.5/16
  --groups string     comma-separated groups
  --subnets string    comma-separated IPv4 CIDRs this host routes for
  --in-pub string     the host's X25519 public key (from 'gateway keygen'); the host keeps its private key
  --out-key string    without --in-pub: where to write a new private key, mode 0600 (default NAME.key)
  --out-pub string    without --in-pub: also write the new public key here
  --out-crt string    where to write the certificate (default NAME.crt)
  --ca-crt string     the signing CA certificate (default ca.crt)
  --ca-key string     the signing CA key (default ca.key)
  --duration string   how long the certificate is valid, a Go duration (default: until 1s before the CA expires)`,
  async run(argv, io) {
    const flags = parseFlags(argv, {
      name: { type: 'string' },
      ip: { type: 'string' },
      groups: { type: 'string' },
      subnets: { type: 'string' },
      'in-pub': { type: 'string' },
      'out-key': { type: 'string' },
      'out-pub': { type: 'string' },
      'out-crt': { type: 'string' },
      'ca-crt': { type: 'string', default: 'ca.crt' },
      'ca-key': { type: 'string', default: 'ca.key' },
      duration: { type: 'string' },
    });
    const name = required(flags, 'name');
    const ip = required(flags, 'ip');
    if (prefixList('ip', ip).length !== 1) throw new UsageError('flag --ip takes one IPv4 CIDR');
    if (flags['in-pub'] !== undefined && flags['out-key'] !== undefined) throw new UsageError('cannot set both --in-pub and --out-key');
    if (flags['in-pub'] !== undefined && flags['out-pub'] !== undefined) throw new UsageError('cannot set both --in-pub and --out-pub');
    const duration = durationFlag('duration', flags.duration, 0);
    const subnets = prefixList('subnets', flags.subnets);
    const groups = splitList(flags.groups);

    const signer = parseFlagFile('ca-key', flags['ca-key'], LocalSigner.fromPem);
    const ca = parseFlagFile('ca-crt', flags['ca-crt'], NebulaCertificate.fromPem);
    const keyPair = flags['in-pub'] === undefined ? generateX25519KeyPair() : undefined;
    const publicKey = keyPair?.publicKey ?? parseFlagFile('in-pub', flags['in-pub'] as string, parseX25519PublicKeyPem);

    const cert = await signCertificate({
      ca,
      signer,
      name,
      ips: [ip],
      groups,
      subnets,
      publicKey,
      // nebula-cert: a duration of 0 or less means "until one second before the CA expires".
      duration: duration > 0 ? duration : undefined,
    });

    const outputs: OutputFile[] = [{ what: 'cert', path: flags['out-crt'] ?? `${name}.crt`, content: cert.toPem(), mode: 0o644 }];
    if (keyPair) {
      outputs.push({ what: 'key', path: flags['out-key'] ?? `${name}.key`, content: encodeX25519PrivateKeyPem(keyPair.privateKey), mode: 0o600 });
      if (flags['out-pub'] !== undefined) {
        outputs.push({ what: 'public key', path: flags['out-pub'], content: encodeX25519PublicKeyPem(keyPair.publicKey), mode: 0o644 });
      }
    }
    writeNewFiles(outputs);
    io.stdout.write(`wrote ${outputs.map((o) => o.path).join(', ')}; fingerprint ${cert.fingerprint()}\n`);
    return 0;
  },
};

/** `gateway cert print`: nebula-cert print. Every certificate in the file, as text or JSON lines. */
export const certPrintCommand: CommandImpl = {
  usage: `Usage: gateway cert print --path FILE [--json]
  --path string   Required: the certificate file (a CA bundle prints every certificate)
  --json          one JSON object per line, in nebula-cert print -json's shape`,
  async run(argv, io) {
    const flags = parseFlags(argv, { path: { type: 'string' }, json: { type: 'boolean', default: false } });
    const path = required(flags, 'path');
    const certificates = parseFlagFile('path', path, parseCertificateBundle);
    for (const cert of certificates) io.stdout.write(`${flags.json ? formatCertificateJson(cert) : formatCertificateText(cert)}\n`);
    return 0;
  },
};

/** `gateway cert verify`: nebula-cert verify. Checks a certificate against a CA bundle with nebula's rules. */
export const certVerifyCommand: CommandImpl = {
  usage: `Usage: gateway cert verify --ca FILE --crt FILE
  --ca string    Required: the CA bundle (one or more CA certificates)
  --crt string   Required: the certificate to verify`,
  async run(argv, io) {
    const flags = parseFlags(argv, { ca: { type: 'string' }, crt: { type: 'string' } });
    const caPath = required(flags, 'ca');
    const crtPath = required(flags, 'crt');
    const pool = parseFlagFile('ca', caPath, CAPool.fromPem);
    // nebula-cert verify refuses a bundle holding an expired CA (the daemon only warns).
    const expired = pool.expired();
    if (expired.length > 0) throw new Error(`error while adding ca cert to pool: ${expired[0].details.name}: certificate is expired`);
    const cert = parseFlagFile('crt', crtPath, NebulaCertificate.fromPem);
    pool.verify(cert);
    io.stdout.write(`valid: ${cert.details.name} (fingerprint ${cert.fingerprint()}), issued by ${pool.caFor(cert).details.name}\n`);
    return 0;
  },
};
