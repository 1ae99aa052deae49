import { API_URL_ENV } from '../../lib/constructs/gateway-api';
import { API_URL_VARIABLE, dependenciesFromEnvironment } from '../../lambda/shared/runtime';

/** The public function pins the stage URL the stack gives it (GATEWAY_API_URL) in the bootstrap script. */
describe('GATEWAY_API_URL', () => {
  it('is the variable the stack sets', () => {
    expect(API_URL_VARIABLE).toBe(API_URL_ENV);
  });

  it('becomes the publicUrl setting, without its trailing slash; unset, none', () => {
    const env = { TABLE_NAME: 'gateway', AWS_REGION: 'eu-west-1' };
    expect(dependenciesFromEnvironment({ ...env, GATEWAY_API_URL: 'https://abc.execute-api.eu-west-1.amazonaws.com/api/' }).settings?.publicUrl).toBe(
      'https://abc.execute-api.eu-west-1.amazonaws.com/api',
    );
    expect(dependenciesFromEnvironment(env).settings).not.toHaveProperty('publicUrl');
  });

  it.each(['not a url', 'ftp://abc.example/api', 'https://user:pw@abc.example/api'])('refuses %j, naming the variable', (value) => {
    expect(() => dependenciesFromEnvironment({ TABLE_NAME: 'gateway', AWS_REGION: 'eu-west-1', GATEWAY_API_URL: value })).toThrow('GATEWAY_API_URL');
  });
});
