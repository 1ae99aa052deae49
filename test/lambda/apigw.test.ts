import { NotASigningFunctionError, tokenSignerFromEnvironment } from '../../lambda/shared/signer';
import { toApiRequest, toRestApiResult } from '../../lambda/shared/apigw';
import { restApiEvent } from './support/events';

describe('API Gateway REST (payload 1.0) adapter', () => {
  it('lower-cases headers, joins repeated ones, takes the first query value, decodes base64 bodies', () => {
    const event = {
      ...restApiEvent({ method: 'post', resource: '/v1/hosts/{id}/renew', pathParameters: { id: 'h-1' }, body: { publicKey: 'k' }, base64: true }),
      multiValueHeaders: { 'X-Forwarded-For': ['203.0.113.7', '10.0.0.1'], Authorization: ['Bearer gwh_x'] },
      multiValueQueryStringParameters: { wait: ['10', '20'] },
      queryStringParameters: { wait: '20' },
    };
    const request = toApiRequest(event, { iamAuthorized: false });
    expect(request).toMatchObject({
      method: 'POST',
      path: '/v1/hosts/h-1/renew',
      query: { wait: '10' },
      headers: expect.objectContaining({ 'x-forwarded-for': '203.0.113.7, 10.0.0.1', authorization: 'Bearer gwh_x', 'content-type': 'application/json' }),
    });
    expect(JSON.parse(request.body.toString('utf8'))).toEqual({ publicKey: 'k' });
    expect(request.iam).toBeUndefined();
  });

  it('passes the verified IAM identity only for IAM-authorized functions', () => {
    const event = restApiEvent({ method: 'GET', resource: '/v1/hosts', iamArn: 'arn:aws:sts::111122223333:assumed-role/Admin/alice' });
    expect(toApiRequest(event, { iamAuthorized: true }).iam).toEqual({ arn: 'arn:aws:sts::111122223333:assumed-role/Admin/alice', accountId: '111122223333' });
    expect(toApiRequest(event, { iamAuthorized: false }).iam).toBeUndefined();
    expect(toApiRequest(restApiEvent({ method: 'GET', resource: '/v1/hosts' }), { iamAuthorized: true }).iam).toBeUndefined();
  });

  it('handles events without headers, query or body', () => {
    const request = toApiRequest({ httpMethod: 'GET', path: '/healthz', headers: null, multiValueHeaders: null, body: null, requestContext: {} }, { iamAuthorized: false });
    expect(request).toMatchObject({ method: 'GET', path: '/healthz', headers: {}, query: {} });
    expect(request.body).toHaveLength(0);
  });

  it('maps an ApiResponse to a proxy result', () => {
    expect(toRestApiResult({ status: 304, headers: { etag: '"v1"' }, body: '' })).toEqual({ statusCode: 304, headers: { etag: '"v1"' }, body: '', isBase64Encoded: false });
  });
});

describe('access token signer from the environment', () => {
  it('none without variables; a verify-only signer from TOKEN_PUBLIC_KEY that refuses to sign; a clear error for a bad key', async () => {
    expect(tokenSignerFromEnvironment({})).toBeUndefined();
    const raw = Buffer.alloc(32, 7);
    const verifyOnly = tokenSignerFromEnvironment({ TOKEN_PUBLIC_KEY: raw.toString('base64') })!;
    expect(Buffer.from(await verifyOnly.publicKey())).toEqual(raw);
    await expect(verifyOnly.sign(Buffer.from('x'))).rejects.toThrow(NotASigningFunctionError);
    expect(() => tokenSignerFromEnvironment({ TOKEN_PUBLIC_KEY: Buffer.alloc(31).toString('base64') })).toThrow(/TOKEN_PUBLIC_KEY must be base64 of a 32-byte/);
    expect(() => tokenSignerFromEnvironment({ TOKEN_KEY_BACKEND: 'kms' })).toThrow(/TOKEN_KEY_ARN is not set/);
    expect(() => tokenSignerFromEnvironment({ TOKEN_KEY_BACKEND: 'hsm', TOKEN_KEY_ARN: 'arn' })).toThrow(/TOKEN_KEY_BACKEND must be kms or secret/);
  });
});
