import { DEFAULT_DISTRIBUTE_SECONDS, MAX_DISTRIBUTE_SECONDS } from '../../api/ca-rotation';
import type { CaExpiryStatus, CaRotationStatus } from '../../client/admin-client';
import { createCA, encodeEd25519PrivateKeyPem, generateEd25519KeyPair, LocalSigner } from '../../pki';
import { type CommandImpl, parseFlags, parseFlagsAndArguments, required, UsageError } from '../command';
import { adminClientFrom, argumentsOf, calling, CONNECTION_FLAGS, CONNECTION_USAGE, flagOfField, writeJson } from './admin-connection';
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

/** A rotation and the CA's expiry as `key: value` lines. */
export function renderCaRotation(rotation: CaRotationStatus, expiry?: CaExpiryStatus): string {
  const ca = (c: { fingerprint: string; notAfter: string } | undefined) => c && `${c.fingerprint} (until ${c.notAfter})`;
  const rows: [string, string | undefined][] = [
    ['phase', rotation.phase],
    ['started', rotation.startedAt],
    ['old CA', ca(rotation.oldCa)],
    ['new CA', ca(rotation.newCa)],
    ['hosts holding bundle', rotation.hostsTotal !== undefined ? `${rotation.hostsHoldingBundle ?? 0} of ${rotation.hostsTotal}` : undefined],
    ['bundle since', rotation.bundleSince],
    ['waits at most', rotation.distributeSeconds !== undefined && rotation.phase !== 'idle' ? `${rotation.distributeSeconds} s per phase` : undefined],
    ['signing since', rotation.signingSince],
    ['old CA retires at', rotation.oldCaRetiresAt],
    ['last completed', rotation.lastCompletedAt],
    ['CA expires', expiry && `${expiry.notAfter} (${expiry.daysLeft} days${expiry.warning === 'ok' ? '' : `, warning ${expiry.warning}`})`],
  ];
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length)) + 1;
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}\n`).join('');
}

/** `gateway ca rotate start`: POST /v1/network/ca-rotation. */
export const caRotateStartCommand: CommandImpl = {
  usage: `Usage: gateway ca rotate start --api URL [--distribute-seconds N] [connection flags]
Starts a CA rotation: every host first gets a bundle of the old and the new CA; once all hold it
(or after --distribute-seconds), certificates are signed by the new CA as hosts renew; the old CA
leaves the bundle once no certificate it signed is still valid. See docs/ca-rotation.md.
  --distribute-seconds N  how long a phase waits for hosts to fetch its bundle (default ${DEFAULT_DISTRIBUTE_SECONDS})

${CONNECTION_USAGE}`,
  async run(argv, io) {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, { ...CONNECTION_FLAGS, 'distribute-seconds': { type: 'string' } });
    argumentsOf(positionals, []);
    const raw = flags['distribute-seconds'];
    const distributeSeconds = raw === undefined ? undefined : Number(raw);
    if (distributeSeconds !== undefined && (!/^\d+$/.test(raw ?? '') || distributeSeconds > MAX_DISTRIBUTE_SECONDS)) {
      throw new UsageError(`flag --distribute-seconds must be a whole number of seconds from 0 to ${MAX_DISTRIBUTE_SECONDS}, not '${raw}'`);
    }
    const { client } = adminClientFrom(flags, io);
    const started = await calling(
      () => client.startCaRotation(distributeSeconds === undefined ? {} : { distributeSeconds }),
      flagOfField({ distributeSeconds: '--distribute-seconds' }),
    );
    if (flags.json) writeJson(io, started);
    else io.stdout.write(`CA rotation started\n${renderCaRotation(started.caRotation)}`);
    return 0;
  },
};

/** `gateway ca rotate status`: the rotation and the CA's expiry from GET /v1/network. */
export const caRotateStatusCommand: CommandImpl = {
  usage: `Usage: gateway ca rotate status --api URL [connection flags]
Shows the CA rotation's phase, both CAs, how many hosts hold the current bundle, and when the CA expires.

${CONNECTION_USAGE}`,
  async run(argv, io) {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, CONNECTION_FLAGS);
    argumentsOf(positionals, []);
    const { client } = adminClientFrom(flags, io);
    const network = await calling(() => client.getNetwork(), () => undefined);
    if (flags.json) writeJson(io, { caRotation: network.caRotation, caExpiry: network.caExpiry });
    else io.stdout.write(renderCaRotation(network.caRotation, network.caExpiry));
    return 0;
  },
};
