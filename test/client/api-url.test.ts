import { ApiUrlError, executeApiRegion, parseApiUrl } from '../../src/client/api-url';

describe('parseApiUrl', () => {
  test.each([
    'https://abc123.execute-api.eu-west-1.amazonaws.com/api',
    'https://gateway.example.com',
    'http://127.0.0.1:8080',
    'http://127.8.9.10:8080/base',
    'http://[::1]:8080',
    'http://localhost:8080',
  ])('accepts %s', (text) => {
    expect(parseApiUrl(text).href.startsWith(text)).toBe(true);
  });

  test.each([
    ['not a url', 'is not a URL'],
    ['ftp://127.0.0.1/', 'ftp: is not http or https'],
    ['http://gateway.example.com:8080', 'plain http is only for a gateway on this machine'],
    ['http://10.0.0.5:8080', 'plain http is only for a gateway on this machine'],
    ['http://127.0.0.1.nip.io:8080', 'plain http is only for a gateway on this machine'],
    ['http://localhost.example.com', 'plain http is only for a gateway on this machine'],
    ['https://user:pass@gateway.example.com', 'must not carry a user name or password'],
    ['https://gateway.example.com/?stage=api', 'must not have a query or fragment'],
    ['https://gateway.example.com/#x', 'must not have a query or fragment'],
  ])('refuses %s', (text, message) => {
    expect(() => parseApiUrl(text)).toThrow(ApiUrlError);
    expect(() => parseApiUrl(text)).toThrow(message);
  });
});

describe('executeApiRegion', () => {
  test.each([
    ['https://abc123.execute-api.eu-west-1.amazonaws.com/api', 'eu-west-1'],
    ['https://a1b2c3.execute-api.us-gov-west-1.amazonaws.com/prod', 'us-gov-west-1'],
    ['https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/prod', 'cn-north-1'],
    ['https://a1b2c3.execute-api.ap-southeast-2.amazonaws.com', 'ap-southeast-2'],
    ['https://gateway.example.com/api', undefined],
    ['https://abc123.execute-api.eu-west-1.amazonaws.com.evil.example/api', undefined],
    ['http://127.0.0.1:8080/api', undefined],
  ])('%s → %s', (text, region) => {
    expect(executeApiRegion(new URL(text))).toBe(region);
  });
});
