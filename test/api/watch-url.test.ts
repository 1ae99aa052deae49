import { checkWatchUrl, WatchUrlError } from '../../src/api';

describe('watch URL setting', () => {
  it('keeps an absolute http(s) URL, without a trailing slash', () => {
    expect(checkWatchUrl('https://watch.example.test:8443/', 'GATEWAY_WATCH_URL')).toBe('https://watch.example.test:8443');
    expect(checkWatchUrl('http://127.0.0.1:8080', 'GATEWAY_WATCH_URL')).toBe('http://127.0.0.1:8080');
  });

  it.each([
    ['watch.example.test', 'must be an absolute http(s) URL'],
    ['ftp://watch.example.test', 'must be an http(s) URL, not ftp:'],
    ['https://user:secret@watch.example.test', 'must carry no credentials, query or fragment'],
    ['https://watch.example.test/?x=1', 'must carry no credentials, query or fragment'],
  ])('refuses %s naming where it came from', (value, message) => {
    expect(() => checkWatchUrl(value, 'GATEWAY_WATCH_URL')).toThrow(WatchUrlError);
    expect(() => checkWatchUrl(value, 'GATEWAY_WATCH_URL')).toThrow(`GATEWAY_WATCH_URL ${message}`);
  });

  it('never echoes credentials of a refused URL', () => {
    expect(() => checkWatchUrl('https://user:hunter2@watch.example.test', 'GATEWAY_WATCH_URL')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
  });
});
