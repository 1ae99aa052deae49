import { MeshError } from '../../src/mesh';

/** The MeshError that `fn` throws; fails the test if it throws nothing or something else. */
export function meshError(fn: () => unknown): MeshError {
  try {
    fn();
  } catch (error) {
    if (error instanceof MeshError) return error;
    throw error;
  }
  throw new Error('expected a MeshError');
}
