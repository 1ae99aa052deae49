import { Logger } from '@aws-lambda-powertools/logger';

/** One Powertools logger per function (JSON lines in the function's log group); never given a secret. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'nebula-gateway' });
