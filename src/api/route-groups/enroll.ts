import { apiRoute } from '../router';
import { certificateInUse } from '../routes/certificate-in-use';
import { renew } from '../routes/config';
import { enroll } from '../routes/enroll';

/** The routes that sign a host's certificate with a token or credential, and retire the ones a new key replaced. */
export const ENROLL_ROUTES = [
  apiRoute('POST', '/v1/enroll', enroll),
  apiRoute('POST', '/v1/hosts/{id}/renew', renew),
  apiRoute('POST', '/v1/hosts/{id}/certificate-in-use', certificateInUse),
];
