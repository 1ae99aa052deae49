import { parseGoDuration } from '../../pki/duration';
import { type CliIO, type CommandImpl, UsageError, parseFlagsAndArguments, required } from '../command';
import { adminClientFrom, argumentsOf, calling, CONNECTION_FLAGS, CONNECTION_USAGE, flagOfField, writeJson } from './admin-connection';

const TOKEN_FIELDS = flagOfField({ subject: '--subject', organization: '--organization', ttlSeconds: '--ttl' });

/** `--ttl` as whole seconds; the API checks the range and names the flag's field when it refuses. */
function ttlSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  let ms: number;
  try {
    ms = parseGoDuration(value);
  } catch {
    throw new UsageError(`flag --ttl must be a duration such as 1h, 30m or 1h30m, not '${value}'`);
  }
  if (ms <= 0 || ms % 1000 !== 0) throw new UsageError(`flag --ttl must be a positive whole number of seconds, not '${value}'`);
  return ms / 1000;
}

export const tokensCreateCommand: CommandImpl = {
  usage: `Usage: gateway tokens create --subject S --organization O [--ttl 1h] --api URL (--iam | --token-file FILE) [--json]

Mints an access token the proxies verify offline: present it as 'Authorization: Bearer', as
X-Gateway-Token, or once as ?gateway_token=. It is shown only in this answer.

  --subject S         who the token speaks for (matched against environments' owners)
  --organization O    their organization (for ports with access 'organization')
  --ttl D             how long it is valid, e.g. 30m, 8h (default: the gateway's)

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, { ...CONNECTION_FLAGS, subject: { type: 'string' }, organization: { type: 'string' }, ttl: { type: 'string' } });
    argumentsOf(positionals, []);
    const subject = required(flags, 'subject');
    const organization = required(flags, 'organization');
    const ttl = ttlSeconds(flags.ttl);
    const { client } = adminClientFrom(flags, io);
    const token = await calling(() => client.createAccessToken({ subject, organization, ...(ttl !== undefined ? { ttlSeconds: ttl } : {}) }), TOKEN_FIELDS);
    if (flags.json) writeJson(io, token);
    else io.stdout.write(`access token for ${subject}@${organization} (until ${token.expiresAt}; not shown again):\n  ${token.token}\n`);
    return 0;
  },
};
