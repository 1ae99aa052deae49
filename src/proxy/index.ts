export * from './access';
export * from './access-log';
export * from './route-cache';
export * from './route-source';
export * from './server';
export * from './token-verifier';
