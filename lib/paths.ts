import * as path from 'node:path';

/** The repository root: Lambda entry points, the Dockerfile and the CLI sources are found from here. */
export const REPO_ROOT = path.resolve(__dirname, '..');
export const LAMBDA_DIR = path.join(REPO_ROOT, 'lambda');
