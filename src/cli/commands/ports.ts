import type { AccessLevel, UpstreamProtocol } from '../../client/admin-client';
import { type CliIO, type CommandImpl, parseFlagsAndArguments, required } from '../command';
import {
  adminClientFrom,
  argumentsOf,
  calling,
  choice,
  CONNECTION_FLAGS,
  CONNECTION_USAGE,
  flagOfField,
  hostIdArgument,
  portArgument,
  writeJson,
} from './admin-connection';

const ACCESS_LEVELS: readonly AccessLevel[] = ['private', 'organization', 'public'];
const PROTOCOLS: readonly UpstreamProtocol[] = ['http', 'https'];
const PORT_FIELDS = flagOfField({ id: 'ID', port: 'PORT', access: '--access', protocol: '--protocol' });

export const portsSetCommand: CommandImpl = {
  usage: `Usage: gateway ports set ID PORT --access private|organization|public [--protocol http|https] --api URL (--iam | --token-file FILE) [--json]

Publishes port PORT of environment ID on the proxies (https://PORT--ID.<domain>), or changes how.

  --access A          private (the host's owner), organization (the owner's organization) or public
  --protocol P        what the environment serves on PORT: http (default) or https

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, { ...CONNECTION_FLAGS, access: { type: 'string' }, protocol: { type: 'string' } });
    const [idText, portText] = argumentsOf(positionals, ['ID', 'PORT']);
    const id = hostIdArgument(idText);
    const port = portArgument(portText);
    const access = choice('access', required(flags, 'access'), ACCESS_LEVELS) as AccessLevel;
    const protocol = choice('protocol', flags.protocol, PROTOCOLS);
    const { client } = adminClientFrom(flags, io);
    const route = await calling(() => client.setPort(id, port, { access, ...(protocol ? { protocol } : {}) }), PORT_FIELDS);
    if (flags.json) writeJson(io, route);
    else io.stdout.write(`host ${id} port ${route.port}: ${route.access}, upstream ${route.protocol}\n`);
    return 0;
  },
};

export const portsDeleteCommand: CommandImpl = {
  usage: `Usage: gateway ports delete ID PORT --api URL (--iam | --token-file FILE)

Withdraws port PORT of host ID from the proxies.

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, CONNECTION_FLAGS);
    const [idText, portText] = argumentsOf(positionals, ['ID', 'PORT']);
    const id = hostIdArgument(idText);
    const port = portArgument(portText);
    const { client } = adminClientFrom(flags, io);
    await calling(() => client.deletePort(id, port), PORT_FIELDS);
    if (flags.json) writeJson(io, { hostId: id, port, deleted: true });
    else io.stdout.write(`host ${id} port ${port}: withdrawn\n`);
    return 0;
  },
};
