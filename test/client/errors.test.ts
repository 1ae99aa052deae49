import { apiErrorOf, GatewayApiError } from '../../src/client/errors';

describe('apiErrorOf: what a refusal says', () => {
  test('a problem+json body gives title, detail and each field', () => {
    const body = JSON.stringify({
      type: 'urn:nebula-gateway:problem:validation',
      title: 'Bad request',
      status: 400,
      detail: 'the request has 2 invalid fields',
      errors: [
        { field: 'name', message: 'must be 1-63 characters' },
        { field: 'groups[1]', message: 'is reserved' },
        { field: 3, message: 'not a field' },
      ],
    });
    const err = apiErrorOf(400, 'Bad Request', 'application/problem+json', body);
    expect(err).toBeInstanceOf(GatewayApiError);
    expect(err).toMatchObject({ status: 400, title: 'Bad request', detail: 'the request has 2 invalid fields' });
    expect(err.fields).toEqual([
      { field: 'name', message: 'must be 1-63 characters' },
      { field: 'groups[1]', message: 'is reserved' },
    ]);
    expect(err.message).toBe('400 Bad request: the request has 2 invalid fields\n  name: must be 1-63 characters\n  groups[1]: is reserved');
  });

  test("API Gateway's own answer keeps only its first line (AWS's signature mismatch goes on to echo the signed headers)", () => {
    const body = JSON.stringify({ message: 'The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\nx-amz-security-token:SECRET' });
    const err = apiErrorOf(403, 'Forbidden', 'application/json', body);
    expect(err.message).toBe('403 Forbidden: The request signature we calculated does not match the signature you provided.');
    expect(apiErrorOf(403, 'Forbidden', 'application/json', JSON.stringify({ Message: 'User: arn:aws:sts::1:assumed-role/x/y is not authorized' })).detail).toBe(
      'User: arn:aws:sts::1:assumed-role/x/y is not authorized',
    );
  });

  test('a body that is not JSON is cut to its first line and 200 characters', () => {
    const err = apiErrorOf(502, 'Bad Gateway', 'text/html', `${'x'.repeat(300)}\nsecond line`);
    expect(err.detail).toBe('x'.repeat(200));
    expect(apiErrorOf(500, '', 'application/json', '{not json').message).toBe('500 Error: {not json');
    expect(apiErrorOf(503, 'Service Unavailable', 'text/plain', '').detail).toBe('(no explanation in the answer)');
  });
});
