export { TABLE_SCHEMA } from './schema';
export { ensureTable } from './table';
export { keys, hostIndexKey, ttlOf } from './keys';
export { egressMemberItem } from './egress-policies';
export { GatewayStore, type HostPage } from './repository';
export type { HostSighting } from './host-seen';
export { type NewHost, type CreateHostInput, type CreatedHost } from './allocation';
export { InvalidCursorError, hostItem, leaseItem } from './items';
export type { CaRotationPhase, CaRotationRecord } from './ca-rotation';
export { routeItem, type RouteChange, type RoutesHead } from './routes';
export type {
  NetworkRecord,
  EgressMemberRecord,
  EgressNodeRecord,
  EgressPolicyRecord,
  HostRecord,
  HostStatus,
  EnrollmentTokenRecord,
  LighthouseRecord,
  RevocationRecord,
  IssuedCertificate,
} from './records';
export { StoreError, NetworkFullError, AddressTakenError, StateConflictError, NetworkNotInitialisedError, PublicKeyTakenError, HostNameTakenError } from './errors';
