import { AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { type RevocationContext, revokeHostById } from '../src/api/revocation';
import { DEFAULT_API_SETTINGS } from '../src/api/settings';
import { apiLogger, storeFromEnvironment } from './shared/runtime';

export const TERMINATE_DETAIL_TYPE = 'EC2 Instance-terminate Lifecycle Action';

/** The fields of an Auto Scaling lifecycle action this function reads (EventBridge `detail`). */
export interface TerminateAction {
  readonly EC2InstanceId: string;
  readonly AutoScalingGroupName: string;
  readonly LifecycleHookName: string;
  readonly LifecycleActionToken: string;
}

/** An event this function cannot act on: the message names the field. Thrown, so it shows in the function's errors. */
export class LifecycleEventError extends Error {
  override readonly name = 'LifecycleEventError';
}

/** The action's fields, checked; LifecycleEventError naming the first field that is wrong. */
export function terminateActionOf(event: unknown): TerminateAction {
  const e = (event ?? {}) as { source?: unknown; 'detail-type'?: unknown; detail?: Record<string, unknown> };
  if (e.source !== 'aws.autoscaling') throw new LifecycleEventError(`source must be aws.autoscaling, not ${JSON.stringify(e.source)}`);
  if (e['detail-type'] !== TERMINATE_DETAIL_TYPE) throw new LifecycleEventError(`detail-type must be '${TERMINATE_DETAIL_TYPE}', not ${JSON.stringify(e['detail-type'])}`);
  const detail = e.detail ?? {};
  for (const field of ['EC2InstanceId', 'AutoScalingGroupName', 'LifecycleHookName', 'LifecycleActionToken'] as const) {
    if (typeof detail[field] !== 'string' || detail[field] === '') throw new LifecycleEventError(`detail.${field} is missing`);
  }
  if (!/^i-[0-9a-f]{8,17}$/.test(detail.EC2InstanceId as string)) throw new LifecycleEventError('detail.EC2InstanceId is not an EC2 instance id');
  return detail as unknown as TerminateAction;
}

export interface NodeLifecycleDependencies extends RevocationContext {
  readonly autoScaling: Pick<AutoScalingClient, 'send'>;
}

/** What the function did for one event (also logged). */
export interface LifecycleOutcome {
  readonly instanceId: string;
  /** The host revoked for the instance; absent when none was registered (or it was revoked before). */
  readonly hostId?: string;
  /** False when Auto Scaling no longer had the action open (a retried event, or the hook timed out). */
  readonly completed: boolean;
}

/**
 * An instance of a fleet's ASG is terminating: revoke the host it registered as (the same code
 * path as `DELETE /v1/hosts/{id}`, so a lighthouse leaves every config), then let the termination
 * go on (CONTINUE). Idempotent: revocation deletes the instance's index item, so a retried event
 * finds no host and only completes the action. A failure to revoke throws before completing, so
 * EventBridge's retry runs it again; the hook's timeout bounds how long termination waits.
 */
export function nodeLifecycleHandler(dependencies: () => NodeLifecycleDependencies): (event: unknown) => Promise<LifecycleOutcome> {
  let deps: NodeLifecycleDependencies | undefined;
  return async (event) => {
    deps ??= dependencies();
    const action = terminateActionOf(event);
    const instanceId = action.EC2InstanceId;
    const fields = { instanceId, autoScalingGroup: action.AutoScalingGroupName };
    const hostId = await deps.store.getHostIdForInstance(instanceId);
    if (hostId) await revokeHostById(deps, hostId, { ...fields, reason: 'instance terminating' });
    else deps.logger?.info('no host is registered for the terminating instance (never registered, or already revoked)', fields);
    const completed = await completeAction(deps, action);
    deps.logger?.info(completed ? 'lifecycle action completed' : 'lifecycle action was no longer open', { ...fields, ...(hostId ? { hostId } : {}) });
    return { instanceId, ...(hostId ? { hostId } : {}), completed };
  };
}

/** CONTINUE; false when Auto Scaling has no open action for it any more (already completed or timed out). */
async function completeAction(deps: NodeLifecycleDependencies, action: TerminateAction): Promise<boolean> {
  try {
    await deps.autoScaling.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: action.AutoScalingGroupName,
        LifecycleHookName: action.LifecycleHookName,
        LifecycleActionToken: action.LifecycleActionToken,
        InstanceId: action.EC2InstanceId,
        LifecycleActionResult: 'CONTINUE',
      }),
    );
    return true;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'ValidationError' && /no active lifecycle action/i.test(e.message ?? '')) return false;
    throw err;
  }
}

/**
 * EventBridge `aws.autoscaling` / "EC2 Instance-terminate Lifecycle Action" of the lighthouse and
 * proxy ASGs. Environment: TABLE_NAME (as node-register); needs autoscaling:CompleteLifecycleAction.
 */
export const handler = nodeLifecycleHandler(() => ({
  store: storeFromEnvironment(process.env),
  autoScaling: new AutoScalingClient({}),
  clock: () => new Date(),
  settings: DEFAULT_API_SETTINGS,
  logger: apiLogger,
}));
