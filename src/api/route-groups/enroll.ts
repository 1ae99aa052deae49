import { apiRoute } from '../router';
import { renew } from '../routes/config';
import { enroll } from '../routes/enroll';

/** The routes that sign a host's certificate with a token or credential. */
export const ENROLL_ROUTES = [apiRoute('POST', '/v1/enroll', enroll), apiRoute('POST', '/v1/hosts/{id}/renew', renew)];
