import type { Command } from './command';

// `require` inside `load` keeps each module (and what it imports) off the start-up path of the others.
/** Every `gateway` subcommand, in the order `gateway --help` lists them. Each lives in its own module. */
export const commands: readonly Command[] = [
  {
    path: ['ca', 'create'],
    summary: 'create a self-signed CA certificate and its key (like nebula-cert ca)',
    load: () => require('./commands/ca').caCreateCommand,
  },
  {
    path: ['ca', 'rotate', 'start'],
    summary: "start a rotation of the gateway's CA, with overlap (admin)",
    load: () => require('./commands/ca').caRotateStartCommand,
  },
  {
    path: ['ca', 'rotate', 'status'],
    summary: "show the CA rotation's phase and the CA's expiry",
    load: () => require('./commands/ca').caRotateStatusCommand,
  },
  {
    path: ['keygen'],
    summary: 'create a host X25519 key pair (like nebula-cert keygen)',
    load: () => require('./commands/keygen').keygenCommand,
  },
  {
    path: ['cert', 'sign'],
    summary: 'sign a host certificate with a CA key (like nebula-cert sign)',
    load: () => require('./commands/cert').certSignCommand,
  },
  {
    path: ['cert', 'print'],
    summary: 'print the certificates in a file (like nebula-cert print)',
    load: () => require('./commands/cert').certPrintCommand,
  },
  {
    path: ['cert', 'verify'],
    summary: 'verify a certificate against a CA bundle (like nebula-cert verify)',
    load: () => require('./commands/cert').certVerifyCommand,
  },
  {
    path: ['serve'],
    summary: 'run the gateway: locally (DynamoDB Local, local CA) or with --aws (the stack\'s table, KMS CA key)',
    load: () => require('./commands/serve').serveCommand,
  },
  {
    path: ['agent', 'enroll'],
    summary: 'enroll this host: make its key, get a certificate and a nebula config',
    load: () => require('./commands/agent').agentEnrollCommand,
  },
  {
    path: ['agent', 'run'],
    summary: 'run nebula for an enrolled host and keep its config and certificate current',
    load: () => require('./commands/agent').agentRunCommand,
  },
  {
    path: ['agent', 'status'],
    summary: "show this host's tunnels from nebula itself: direct or relayed, last handshake, certificate life",
    load: () => require('./commands/agent').agentStatusCommand,
  },
  {
    path: ['egress', 'run'],
    summary: 'enforce the egress policy on an egress node (nftables), with a flow log',
    load: () => require('./commands/egress-node').egressRunCommand,
  },
  {
    path: ['hosts', 'create'],
    summary: 'create a host; prints its one-time enrollment token (--api URL with --iam or an admin token)',
    load: () => require('./commands/hosts').hostsCreateCommand,
  },
  {
    path: ['hosts', 'list'],
    summary: 'list hosts, optionally of one role',
    load: () => require('./commands/hosts').hostsListCommand,
  },
  {
    path: ['hosts', 'show'],
    summary: 'show one host',
    load: () => require('./commands/hosts').hostsShowCommand,
  },
  {
    path: ['hosts', 'set-owner'],
    summary: "set an environment's owner (who may reach its private ports)",
    load: () => require('./commands/hosts').hostsSetOwnerCommand,
  },
  {
    path: ['hosts', 'delete'],
    summary: 'revoke a host (blocklisted on every node)',
    load: () => require('./commands/hosts').hostsDeleteCommand,
  },
  {
    path: ['ports', 'set'],
    summary: "publish an environment's port on the proxies (private, organization or public)",
    load: () => require('./commands/ports').portsSetCommand,
  },
  {
    path: ['ports', 'delete'],
    summary: "withdraw an environment's port from the proxies",
    load: () => require('./commands/ports').portsDeleteCommand,
  },
  {
    path: ['egress-policies', 'get'],
    summary: "show what an organisation's environments may reach through the egress nodes",
    load: () => require('./commands/egress-policies').egressPoliciesGetCommand,
  },
  {
    path: ['egress-policies', 'set'],
    summary: "replace an organisation's egress policy (--rule tcp:10.0.0.0/16:5432 ...)",
    load: () => require('./commands/egress-policies').egressPoliciesSetCommand,
  },
  {
    path: ['network', 'set-egress-routes'],
    summary: 'set the networks environments reach through the egress nodes',
    load: () => require('./commands/network').networkSetEgressRoutesCommand,
  },
  {
    path: ['tokens', 'create'],
    summary: 'mint an access token for the proxies (subject, organization, lifetime)',
    load: () => require('./commands/tokens').tokensCreateCommand,
  },
  {
    path: ['proxy'],
    summary: 'run the HTTPS proxy to environments (<port>--<hostId>.<domain>)',
    load: () => require('./commands/proxy').proxyCommand,
  },
];
