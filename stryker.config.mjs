// Mutation testing of the security-critical modules (`npm run mutate [group...]`, see
// test/mutation/run.ts). Each group mutates a few modules and runs only the tests that state their
// rules, so a run stays bounded; test/mutation/run.ts starts one DynamoDB Local for all of them.
// No TypeScript checker: @stryker-mutator/typescript-checker needs the compiler's JavaScript API,
// which TypeScript 7 (the native compiler) does not have.

/** @type {Record<string, { mutate: string[]; tests: string[] }>} */
export const groups = {
  pki: {
    mutate: ['src/pki/ca-pool.ts', 'src/pki/constraints.ts'],
    tests: ['test/pki/*.test.ts', 'test/cli/cert.test.ts'],
  },
  store: {
    mutate: ['src/store/allocation.ts', 'src/store/revocation.ts'],
    tests: ['test/store/*.test.ts', 'test/server/sweeper.test.ts', 'test/api/lifecycle.test.ts', 'test/api/revocation*.test.ts'],
  },
  firewall: {
    mutate: ['src/mesh/firewall.ts'],
    tests: ['test/mesh/firewall.test.ts', 'test/mesh/roles.test.ts', 'test/mesh/firewall*.test.ts'],
  },
  nodes: {
    mutate: ['src/api/ec2-node-verifier.ts', 'src/api/routes/nodes.ts'],
    tests: ['test/infra/ec2-node-verifier.test.ts', 'test/api/node-registration*.test.ts', 'test/lambda/handlers.test.ts'],
  },
  tokens: {
    mutate: ['src/mesh/access-token.ts', 'src/proxy/token-verifier.ts'],
    tests: ['test/proxy/access-token*.test.ts', 'test/api/access-tokens.test.ts', 'test/proxy/token*.test.ts'],
  },
  'proxy-access': {
    mutate: ['src/proxy/access.ts', 'src/proxy/decision.ts'],
    tests: ['test/proxy/decision.test.ts', 'test/proxy/http1.test.ts', 'test/proxy/proxy.test.ts', 'test/proxy/access*.test.ts'],
  },
  'api-auth': {
    mutate: ['src/api/auth.ts', 'src/api/routes/enroll.ts'],
    tests: [
      'test/api/lifecycle.test.ts',
      'test/api/bad-input.test.ts',
      'test/api/admin-roles.test.ts',
      'test/api/host-identity.test.ts',
      'test/api/multi-instance.test.ts',
      'test/api/*auth*.test.ts',
      'test/api/*enroll*.test.ts',
      // An egress node's enrollment moves every environment's config (enroll.ts invalidates the views).
      'test/api/egress-rules.test.ts',
      'test/lambda/apigw.test.ts',
      'test/lambda/admin-roles.test.ts',
    ],
  },
  config: {
    mutate: ['src/mesh/config.ts'],
    tests: ['test/mesh/config*.test.ts', 'test/mesh/egress-config.test.ts'],
  },
};

const name = process.env.STRYKER_GROUP;
const group = name ? groups[name] : undefined;
if (name && !group) throw new Error(`STRYKER_GROUP=${name}: not one of ${Object.keys(groups).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'jest',
  jest: {
    configFile: 'jest.config.js',
    // Every module is reachable from every test through the folders' index files, so jest's
    // related-tests search would pick the whole suite: each group names its tests instead.
    enableFindRelatedTests: false,
    config: group ? { testMatch: group.tests.map((glob) => `<rootDir>/${glob}`) } : {},
  },
  coverageAnalysis: 'perTest',
  mutate: group ? group.mutate : Object.values(groups).flatMap((g) => g.mutate),
  // Incremental: only mutants whose code or covering tests changed run again. The files are
  // committed (Stryker's intended use) so a fresh clone, CI included, starts from them.
  incremental: true,
  incrementalFile: `stryker-incremental/${name ?? 'all'}.json`,
  // The machine is shared: STRYKER_CONCURRENCY=1 keeps a run to one jest worker.
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 2),
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name ?? 'all'}.html` },
  jsonReporter: { fileName: `reports/mutation/${name ?? 'all'}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 90, low: 80, break: null },
  ignorePatterns: ['cdk.out', '.gateway', 'reports', 'stryker-incremental', 'bench/results', 'coverage', '.stryker-tmp*'],
  // Stryker rewrites tsconfig.json's paths for its sandbox through the compiler's JavaScript API,
  // which TypeScript 7 lacks; this tsconfig needs no rewriting (no extends, no references), so
  // Stryker is pointed at none.
  tsconfigFile: 'no-tsconfig-for-stryker.json',
  // One sandbox folder per group, so that groups may run side by side.
  tempDirName: `.stryker-tmp-${name ?? 'all'}`,
  cleanTempDir: 'always',
};
