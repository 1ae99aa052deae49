import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ADMIN_TOKEN_PREFIX, newSecret } from '../api';

export interface AdminToken {
  readonly token: string;
  /** Where it is kept; undefined when it came from the environment. */
  readonly path?: string;
}

/**
 * The admin token of local mode: `GATEWAY_ADMIN_TOKEN` when set, else `<dataDir>/admin-token`
 * (mode 0600), made on first start. The server keeps only its hash in memory for comparisons.
 */
export async function loadOrCreateAdminToken(dataDir: string, env: NodeJS.ProcessEnv): Promise<AdminToken> {
  const fromEnv = env.GATEWAY_ADMIN_TOKEN?.trim();
  if (fromEnv) {
    if (!fromEnv.startsWith(ADMIN_TOKEN_PREFIX) || fromEnv.length < ADMIN_TOKEN_PREFIX.length + 16) {
      throw new Error(`GATEWAY_ADMIN_TOKEN must start with ${ADMIN_TOKEN_PREFIX} and hold at least 16 more characters`);
    }
    return { token: fromEnv };
  }
  const path = join(dataDir, 'admin-token');
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (!token.startsWith(ADMIN_TOKEN_PREFIX)) throw new Error(`${path} does not hold an admin token (${ADMIN_TOKEN_PREFIX}...)`);
    await chmod(path, 0o600);
    return { token, path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = newSecret(ADMIN_TOKEN_PREFIX);
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, path };
}
