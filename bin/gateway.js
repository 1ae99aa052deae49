#!/usr/bin/env node
// The `gateway` command. Runs the TypeScript sources through tsx so that `npx gateway` works
// right after `npm ci`; deployable artifacts (Lambda, container, agent) are bundled with esbuild.
'use strict';
require('tsx/cjs/api').register();
const { main } = require('../src/cli/main.ts');
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`gateway: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; },
);
