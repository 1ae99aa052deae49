import { createLogger } from '../../agent';
import { DEFAULT_POLL_SECONDS, runEgressNode } from '../../egress';
import { type CliIO, type CommandImpl, UsageError, parseFlags, required } from '../command';

export const egressRunCommand: CommandImpl = {
  usage: `Usage: gateway egress run --dir DIR [--poll-seconds S] [--log-format text|json]

Enforces the network's egress policy on an egress node (run as root, next to 'gateway agent run'
with the same DIR). Applies the rules as one nftables table (inet gateway_egress): forwarded
traffic from the overlay is accepted only for the destinations, protocols and ports its
organisation may reach, and masqueraded; everything else is dropped and counted. Polls
GET /v1/egress/rules every S seconds (ETag); a change applies atomically, and established flows
the new policy no longer allows are cut (their conntrack entries deleted). The last rules are
kept in DIR/egress-rules.json and applied at start when the API does not answer. Turns on
net.ipv4.ip_forward and conntrack accounting. Needs nft (nftables) and conntrack.

Flow log on stdout, one JSON object per line: egress_flow when a flow ends (host, organization,
source, destination, proto, port, start, end, bytes and packets each way); egress_flow_refused
when a (source, destination, proto, port) is first refused. Events on stderr.

  --dir DIR          the egress host's agent directory ('gateway agent enroll --dir')
  --poll-seconds S   how often to ask for the rules (default ${DEFAULT_POLL_SECONDS})
  --log-format F     text (default) or json, for the events on stderr
`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, {
      dir: { type: 'string' },
      'poll-seconds': { type: 'string' },
      'log-format': { type: 'string' },
    });
    const dir = required(flags, 'dir');
    const format = flags['log-format'] ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`flag --log-format must be text or json, not '${String(format)}'`);
    const rawPoll = flags['poll-seconds'];
    const pollSeconds = rawPoll === undefined ? DEFAULT_POLL_SECONDS : Number(rawPoll);
    if (!Number.isFinite(pollSeconds) || pollSeconds < 0.1 || pollSeconds > 3600) throw new UsageError('flag --poll-seconds must be a number of seconds between 0.1 and 3600');
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    try {
      return await runEgressNode({ dir, pollSeconds, logger: createLogger(format, io.stderr), flows: io.stdout, signal: stop.signal });
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  },
};
