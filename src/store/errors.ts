/** Base of every error the repository throws on purpose; anything else is the database failing. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
}

/** Every address of the overlay network is leased or still quarantined. */
export class NetworkFullError extends StoreError {
  override readonly name = 'NetworkFullError';
  constructor(cidr: string) {
    super(`no free address left in ${cidr}: every address is leased or quarantined after a revocation`);
  }
}

/** A requested address is leased to another host or still quarantined. */
export class AddressTakenError extends StoreError {
  override readonly name = 'AddressTakenError';
  constructor(readonly ip: string) {
    super(`address ${ip} is leased to another host or quarantined after a revocation`);
  }
}

/** A conditional write found the item in another state than the caller read (a concurrent change). */
export class StateConflictError extends StoreError {
  override readonly name = 'StateConflictError';
}

/** The network record is missing: the table was never initialised. */
export class NetworkNotInitialisedError extends StoreError {
  override readonly name = 'NetworkNotInitialisedError';
  constructor(table: string) {
    super(`table ${table} holds no network record; start the gateway once to initialise it`);
  }
}

/** The public key is (or was) another host's: one key, one host, for good. */
export class PublicKeyTakenError extends StoreError {
  override readonly name = 'PublicKeyTakenError';
  constructor() {
    super('this public key is enrolled by another host (keys are never reused, not even after a revocation); generate a new key pair');
  }
}

/** Another host that is not revoked has this name (compared case-insensitively). */
export class HostNameTakenError extends StoreError {
  override readonly name = 'HostNameTakenError';
  constructor(readonly hostName: string) {
    super(`another host that is not revoked is named ${hostName} (names are unique among active and pending hosts, ignoring case; a revoked host's name is free again)`);
  }
}
