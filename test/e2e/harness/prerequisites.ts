import { describeNeeding, type Prerequisite } from '../../support/prerequisites';

/** What a real mesh of gateway agents needs on this machine. */
export const MESH_PREREQUISITES: readonly Prerequisite[] = ['root', 'nebula', 'nebula-cert', 'ip', 'ping'];

/** `describe` when the mesh can run here (see describeNeeding: CI fails, elsewhere skips). */
export function describeMesh(): jest.Describe {
  return describeNeeding(MESH_PREREQUISITES);
}
