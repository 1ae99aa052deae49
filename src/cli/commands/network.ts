import { MeshError } from '../../mesh/errors';
import { parseIpv4Range } from '../../mesh/egress-routes';
import { type CliIO, type CommandImpl, parseFlags, UsageError } from '../command';
import { adminClientFrom, calling, CONNECTION_FLAGS, CONNECTION_USAGE, flagOf, writeJson } from './admin-connection';

const ROUTE_FIELDS = flagOf({ routes: '--route' });

export const networkSetEgressRoutesCommand: CommandImpl = {
  usage: `Usage: gateway network set-egress-routes (--route CIDR ... | --none) --api URL (--iam | --token-file FILE) [--json]

Sets the networks environments reach through the egress nodes (their VPC, peered VPCs, ...).
Every environment's nebula restarts with the new routes; egress nodes get certificates for them.
Not 0.0.0.0/0 (it would capture nebula's own underlay traffic), nothing overlapping the overlay.

  --route CIDR        repeatable, e.g. --route 10.0.0.0/16 --route 192.168.1.0/24
  --none              no egress routes: environments route nothing to the egress nodes

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, { ...CONNECTION_FLAGS, route: { type: 'string', multiple: true }, none: { type: 'boolean' } });
    const routes = flags.route ?? [];
    if (flags.none && routes.length > 0) throw new UsageError('flag --none excludes --route');
    if (!flags.none && routes.length === 0) throw new UsageError('flag --route is required (or --none to remove every egress route)');
    routes.forEach((route, i) => {
      try {
        parseIpv4Range(route, `--route #${i + 1}`);
      } catch (err) {
        if (err instanceof MeshError) throw new UsageError(`flag ${err.message}`);
        throw err;
      }
    });
    const { client } = adminClientFrom(flags, io);
    const result = await calling(() => client.setEgressRoutes(routes), ROUTE_FIELDS);
    if (flags.json) writeJson(io, result);
    else io.stdout.write(result.egressRoutes.length === 0 ? 'egress routes: none\n' : `egress routes: ${result.egressRoutes.join(', ')}\n`);
    return 0;
  },
};
