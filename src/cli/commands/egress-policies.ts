import type { EgressPolicy, EgressRule } from '../../client/admin-client';
import { MeshError } from '../../mesh/errors';
import { parseRuleSpec } from '../../mesh/egress-policy';
import { type CliIO, type CommandImpl, parseFlags, required, UsageError } from '../command';
import { adminClientFrom, calling, CONNECTION_FLAGS, CONNECTION_USAGE, flagOf, writeJson } from './admin-connection';

const POLICY_FIELDS = flagOf({ organization: '--organization', rules: '--rule', 'if-match': '--if-revision' });

/** The gateway checks the name (and names --organization when it refuses it). */
function organizationFlag(flags: { organization?: string }): string {
  return required(flags, 'organization');
}

/** A policy as text: its revision, then one rule a line (`tcp 10.0.0.0/16 5432`), or that nothing is allowed. */
export function renderPolicy(policy: EgressPolicy): string {
  const head = policy.revision === 0 ? `${policy.organization}: never set (nothing allowed)\n` : `${policy.organization}: revision ${policy.revision}, updated ${policy.updatedAt}\n`;
  if (policy.rules.length === 0) return `${head}  no rules: environments of ${policy.organization} reach nothing through the egress nodes\n`;
  return head + policy.rules.map((r) => `  ${r.proto.padEnd(3)} ${r.cidr.padEnd(18)} ${r.ports}\n`).join('');
}

export const egressPoliciesGetCommand: CommandImpl = {
  usage: `Usage: gateway egress-policies get --organization ORG --api URL (--iam | --token-file FILE) [--json]

Shows what the environments of organisation ORG may reach through the egress nodes.

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, { ...CONNECTION_FLAGS, organization: { type: 'string' } });
    const organization = organizationFlag(flags);
    const { client } = adminClientFrom(flags, io);
    const policy = await calling(() => client.getEgressPolicy(organization), POLICY_FIELDS);
    if (flags.json) writeJson(io, policy);
    else io.stdout.write(renderPolicy(policy));
    return 0;
  },
};

export const egressPoliciesSetCommand: CommandImpl = {
  usage: `Usage: gateway egress-policies set --organization ORG (--rule PROTO:CIDR[:PORTS] ... | --none) [--if-revision N]
         --api URL (--iam | --token-file FILE) [--json]

Replaces the egress policy of organisation ORG: its environments may reach exactly these
destinations through the egress nodes (each CIDR inside one of the network's egress routes).
Egress nodes apply it within seconds, without restarting nebula.

  --rule PROTO:CIDR[:PORTS]  repeatable; PROTO tcp, udp or any; PORTS a port, a range such as
                             8000-8100, or any (the default; with PROTO any it must be any)
                             e.g. --rule tcp:10.0.0.0/16:5432 --rule udp:10.0.0.2/32:53
  --none                     no rules: the organisation's environments reach nothing
  --if-revision N            only if the policy is still at revision N (0: never set), as
                             \`get\` showed it; refused if it changed meanwhile

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, {
      ...CONNECTION_FLAGS,
      organization: { type: 'string' },
      rule: { type: 'string', multiple: true },
      none: { type: 'boolean' },
      'if-revision': { type: 'string' },
    });
    const organization = organizationFlag(flags);
    const specs = flags.rule ?? [];
    if (flags.none && specs.length > 0) throw new UsageError('flag --none excludes --rule');
    if (!flags.none && specs.length === 0) throw new UsageError('flag --rule is required (or --none to allow nothing)');
    const rules: EgressRule[] = specs.map((spec, i) => {
      try {
        return parseRuleSpec(spec, `--rule #${i + 1}`);
      } catch (err) {
        if (err instanceof MeshError) throw new UsageError(`flag ${err.message}`);
        throw err;
      }
    });
    const ifRevision = revisionFlag(flags['if-revision']);
    const { client } = adminClientFrom(flags, io);
    const policy = await calling(() => client.setEgressPolicy(organization, rules, { ifRevision }), POLICY_FIELDS);
    if (flags.json) writeJson(io, policy);
    else io.stdout.write(renderPolicy(policy));
    return 0;
  },
};

function revisionFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,14})$/.test(text)) throw new UsageError(`flag --if-revision must be a revision number such as 3 (0: never set), not '${text}'`);
  return Number(text);
}
