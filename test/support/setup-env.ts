import { applyTestEnvironment } from './aws-env';

applyTestEnvironment();
