import { createCA, encodeEd25519PrivateKeyPem, generateEd25519KeyPair, LocalSigner } from '../../pki';
import { type CommandImpl, parseFlags, required, UsageError } from '../command';
import { durationFlag, prefixList, splitList, writeNewFiles } from './pki-files';

const YEAR_MS = 8760 * 3_600_000;

/** `gateway ca create`: nebula-cert ca. A new Ed25519 CA key and its self-signed certificate. */
export const caCreateCommand: CommandImpl = {
  usage: `Usage: gateway ca create --name NAME [flags]
  --name string       Required: name of the certificate authority
  --duration string   how long the CA is valid, a Go duration (default 8760h)
  --groups string     comma-separated groups; certificates it signs may only carry these
  --ips string        comma-separated IPv4 CIDRs; certificates it signs must lie within
  --subnets string    comma-separated IPv4 CIDRs; certificate subnets must lie within
  --out-crt string    where to write the certificate (default ca.crt)
  --out-key string    where to write the private key, mode 0600 (default ca.key)`,
  async run(argv, io) {
    const flags = parseFlags(argv, {
      name: { type: 'string' },
      duration: { type: 'string' },
      groups: { type: 'string' },
      ips: { type: 'string' },
      subnets: { type: 'string' },
      'out-crt': { type: 'string', default: 'ca.crt' },
      'out-key': { type: 'string', default: 'ca.key' },
    });
    const name = required(flags, 'name');
    const duration = durationFlag('duration', flags.duration, YEAR_MS);
    if (duration <= 0) throw new UsageError('flag --duration must be greater than 0');
    const ips = prefixList('ips', flags.ips);
    const subnets = prefixList('subnets', flags.subnets);
    const groups = splitList(flags.groups);

    const keyPair = generateEd25519KeyPair();
    const ca = await createCA({ signer: new LocalSigner(keyPair.privateKey), name, duration, ips, subnets, groups });
    writeNewFiles([
      { what: 'CA key', path: flags['out-key'], content: encodeEd25519PrivateKeyPem(keyPair.privateKey), mode: 0o600 },
      { what: 'CA cert', path: flags['out-crt'], content: ca.toPem(), mode: 0o644 },
    ]);
    io.stdout.write(`wrote ${flags['out-crt']} and ${flags['out-key']}; CA fingerprint ${ca.fingerprint()}\n`);
    return 0;
  },
};
