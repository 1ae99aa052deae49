import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Ipv4Cidr } from '../src/mesh/cidr';
import { DEFAULT_NETWORK_POLICY } from '../src/mesh/firewall';
import { createCA, NebulaCertificate, parseCertificateBundle } from '../src/pki';
import type { Signer } from '../src/pki/signer';
import { GatewayStore } from '../src/store';
import { type CustomResourceRequest, sendCustomResourceResponse } from './shared/custom-resource';
import { logger } from './shared/logger';
import { nextSignerFromEnvironment, signerFromEnvironment, tokenSignerFromEnvironment } from './shared/signer';

/** A CloudFormation custom resource request for the CA (the properties this resource reads). */
export type CustomResourceEvent = CustomResourceRequest<{
  readonly TableName: string;
  readonly OverlayCidr: string;
  readonly CaName: string;
  /** CloudFormation passes every property as a string. */
  readonly CaLifetimeDays: string | number;
  /** The access token key; a change makes CloudFormation send an Update, which reads its public key. */
  readonly AccessTokenKeyArn?: string;
}>;

export interface CaResult {
  readonly physicalResourceId: string;
  readonly fingerprint?: string;
  /** Base64 of the access token key's raw Ed25519 public key, for the functions that only publish it. */
  readonly accessTokenPublicKey?: string;
}

/** A request the resource refuses; CloudFormation shows the message and rolls back. */
export class CaInitError extends Error {
  override readonly name = 'CaInitError';
}

const DAY_MS = 86_400_000;

/** How to get a CA with another name or lifetime, for the refusal below. */
export const CA_ROTATION_ADVICE =
  'the CA certificate is issued once and never re-issued in place (every host certificate chains to it). ' +
  'Set gateway.caLifetimeDays (and gateway.name) back to what the network was created with; to get a new CA, ' +
  'rotate it in place with overlap: caNextKey, then gateway ca rotate start (docs/ca-rotation.md).';

/**
 * Create/Update: makes sure the network record exists: if the table has none, creates a CA
 * certificate signed by the CA key (self-signed, limited to the overlay CIDR) and records the
 * network; if it has one, keeps it (a retry or a redeploy never replaces the CA) but refuses a
 * changed overlay CIDR, CA name or CA lifetime rather than ignore them: the requested values are
 * compared with the CA the table holds, so a rollback to the old values always succeeds. Also reads the access token key's public key (when there is a token signer)
 * so the stack can hand it to functions without access to that key. Delete does nothing: the
 * table and the keys are retained.
 */
export async function applyCaRequest(
  event: CustomResourceEvent,
  deps: { store: GatewayStore; signer: Signer; nextSigner?: Signer; tokenSigner?: Signer; now?: Date },
): Promise<CaResult> {
  const props = event.ResourceProperties;
  const physicalResourceId = `nebula-ca:${props.TableName}`;
  if (event.RequestType === 'Delete') return { physicalResourceId: event.PhysicalResourceId ?? physicalResourceId };

  const cidr = Ipv4Cidr.parse(props.OverlayCidr);
  const lifetimeDays = Number(props.CaLifetimeDays);
  if (!Number.isInteger(lifetimeDays) || lifetimeDays < 1) throw new CaInitError(`CaLifetimeDays must be a positive whole number, not ${props.CaLifetimeDays}`);

  let network = await deps.store.getNetwork();
  if (!network) {
    const now = deps.now ?? new Date();
    const ca = await createCA({
      signer: deps.signer,
      name: props.CaName,
      ips: [cidr.toString()],
      notBefore: now,
      notAfter: new Date(now.getTime() + lifetimeDays * DAY_MS),
    });
    network = await deps.store.initNetwork({
      cidr: cidr.toString(),
      caBundle: ca.toPem(),
      policy: { ...DEFAULT_NETWORK_POLICY },
      createdAt: now.toISOString(),
    });
    logger.info('network initialised', { cidr: network.cidr, fingerprint: ca.fingerprint() });
  }
  if (network.cidr !== cidr.toString()) {
    throw new CaInitError(`the network's overlay CIDR is ${network.cidr}; it cannot change to ${cidr} once hosts may hold addresses`);
  }
  const ca = await signingCa(parseCertificateBundle(network.caBundle), deps.nextSigner ? [deps.signer, deps.nextSigner] : [deps.signer]);
  const heldDays = Math.round((ca.details.notAfter.getTime() - ca.details.notBefore.getTime()) / DAY_MS);
  if (ca.details.name !== props.CaName) {
    throw new CaInitError(`the network's CA is named '${ca.details.name}'; it cannot become '${props.CaName}': ${CA_ROTATION_ADVICE}`);
  }
  if (heldDays !== lifetimeDays) {
    throw new CaInitError(`the network's CA was issued for ${heldDays} days; it cannot change to ${lifetimeDays}: ${CA_ROTATION_ADVICE}`);
  }
  const fingerprint = ca.fingerprint();
  const accessTokenPublicKey = deps.tokenSigner ? Buffer.from(await deps.tokenSigner.publicKey()).toString('base64') : undefined;
  return { physicalResourceId, fingerprint, ...(accessTokenPublicKey ? { accessTokenPublicKey } : {}) };
}

/** The bundle's CA that a CA key (the current one, or mid-rotation the next) signs for (the newest if several). */
async function signingCa(bundle: NebulaCertificate[], signers: readonly Signer[]): Promise<NebulaCertificate> {
  const keys = await Promise.all(signers.map(async (s) => Buffer.from(await s.publicKey())));
  const mine = bundle.filter((ca) => keys.some((key) => Buffer.from(ca.details.publicKey).equals(key)));
  const newest = mine.sort((a, b) => b.details.notAfter.getTime() - a.details.notAfter.getTime())[0];
  if (!newest) throw new CaInitError("no CA in the network's bundle belongs to the configured CA key");
  return newest;
}

/** The resource's attributes: `Fingerprint` (and `AccessTokenPublicKey`) once there is a CA. */
function caAttributes(result: CaResult | undefined): Record<string, string> | undefined {
  if (!result?.fingerprint) return undefined;
  return { Fingerprint: result.fingerprint, ...(result.accessTokenPublicKey ? { AccessTokenPublicKey: result.accessTokenPublicKey } : {}) };
}

let deps: { store: GatewayStore; signer: Signer; nextSigner?: Signer; tokenSigner?: Signer } | undefined;

export async function handler(event: CustomResourceEvent): Promise<void> {
  let outcome: { result?: CaResult; error?: Error };
  try {
    deps ??= {
      store: new GatewayStore({ client: new DynamoDBClient({}), tableName: event.ResourceProperties.TableName }),
      signer: signerFromEnvironment(process.env),
      nextSigner: nextSignerFromEnvironment(process.env),
      tokenSigner: tokenSignerFromEnvironment(process.env),
    };
    outcome = { result: await applyCaRequest(event, deps) };
  } catch (err) {
    logger.error('CA custom resource failed', { requestType: event.RequestType, error: (err as Error).message });
    outcome = { error: err as Error };
  }
  await sendCustomResourceResponse(event, {
    physicalResourceId: outcome.result?.physicalResourceId ?? event.PhysicalResourceId ?? `nebula-ca:${event.LogicalResourceId}`,
    error: outcome.error,
    data: caAttributes(outcome.result),
  });
}
