import { apiRoute } from '../router';
import { registerNode } from '../routes/nodes';

/** Registration of the lighthouse and proxy fleets' instances. */
export const NODE_REGISTER_ROUTES = [apiRoute('POST', '/v1/nodes/register', registerNode)];
