import { createCA, generateEd25519KeyPair, LocalSigner } from '../../src/pki';
import { CaExpiryWarnings } from '../../src/server/sweeper';

const DAY = 86_400_000;
const NOT_AFTER = new Date('2027-01-31T00:00:00Z');
let bundle: string;

beforeAll(async () => {
  const ca = await createCA({ signer: new LocalSigner(generateEd25519KeyPair().privateKey), name: 'ca', notBefore: new Date(NOT_AFTER.getTime() - 400 * DAY), notAfter: NOT_AFTER });
  bundle = ca.toPem();
});

test('warns once a day per threshold: 30 days, 7 days, expired; nothing before', () => {
  const warnings = new CaExpiryWarnings();
  const at = (daysLeft: number, hour = 0) => new Date(NOT_AFTER.getTime() - daysLeft * DAY + hour * 3_600_000);
  const seen = [
    [31, 0],
    [29.5, 0],
    [29.5, 1],
    [28.5, 0],
    [6.9, 0],
    [6.9, 2],
    [-0.5, 0],
  ].map(([days, hour]) => warnings.check(bundle, at(days, hour)));
  expect(seen).toEqual([
    undefined,
    expect.stringMatching(/expires in 29 days .*under the 30d threshold.*docs\/ca-rotation\.md/),
    undefined,
    expect.stringMatching(/expires in 28 days/),
    expect.stringMatching(/expires in 6 days .*under the 7d threshold/),
    undefined,
    expect.stringMatching(/expired at 2027-01-31T00:00:00\.000Z/),
  ]);
});
