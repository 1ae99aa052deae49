import type { ApiRoute } from '../router';
import { ENROLL_ROUTES } from './enroll';
import { HOST_ADMIN_ROUTES } from './host-admin';
import { HOST_CONFIG_ROUTES } from './host-config';
import { NODE_REGISTER_ROUTES } from './node-register';
import { PUBLIC_ROUTES } from './public';

/** Every v1 route, for a transport that serves the whole API (src/server). */
export const ALL_ROUTES: readonly ApiRoute[] = [...PUBLIC_ROUTES, ...HOST_ADMIN_ROUTES, ...ENROLL_ROUTES, ...HOST_CONFIG_ROUTES, ...NODE_REGISTER_ROUTES];
