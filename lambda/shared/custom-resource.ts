/** A CloudFormation custom resource request: the fields the resources here read, and their properties. */
export interface CustomResourceRequest<Properties> {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: Properties;
}

/** CloudFormation refuses a response body over 4 KB; the reason is what an operator reads first. */
const MAX_REASON_LENGTH = 1000;

/**
 * Tells CloudFormation the outcome: a PUT of the JSON response to the pre-signed ResponseURL.
 * `physicalResourceId` is the resource's id, or for a request that failed before it had one, the
 * request's own or a fallback. The content type is empty because the URL was signed without one.
 */
export async function sendCustomResourceResponse(
  event: CustomResourceRequest<unknown>,
  outcome: { readonly physicalResourceId: string; readonly error?: Error; readonly data?: Readonly<Record<string, string>> },
): Promise<void> {
  const body = JSON.stringify({
    Status: outcome.error ? 'FAILED' : 'SUCCESS',
    Reason: outcome.error ? outcome.error.message.slice(0, MAX_REASON_LENGTH) : undefined,
    PhysicalResourceId: outcome.physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: outcome.data,
  });
  const response = await fetch(event.ResponseURL, { method: 'PUT', body, headers: { 'content-type': '' } });
  if (!response.ok) throw new Error(`CloudFormation response upload failed with HTTP ${response.status}`);
}
