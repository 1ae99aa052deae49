/**
 * The one error type of src/mesh. `field` names the input that was wrong (for example `cidr`,
 * `groups[2]`, `lighthouses[0].endpoints[1]`), so the API can report it as a validation error
 * and the CLI can name the flag.
 */
export class MeshError extends Error {
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'MeshError';
    this.field = field;
  }
}
