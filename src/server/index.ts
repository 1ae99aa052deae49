export { startGateway, type GatewayOptions, type RunningGateway, DEFAULT_OVERLAY_CIDR, DEFAULT_TABLE_NAME, DEFAULT_DATA_DIR } from './gateway';
export { startAwsGateway, type AwsGatewayOptions, type RunningAwsGateway, AwsGatewayError } from './aws-gateway';
export { createHttpServer } from './http-server';
export { startDynamoDbLocal, findDynamoDbLocalJar, freePort, type DynamoDbLocal, type DynamoDbLocalOptions } from './dynamodb-local';
export { LOCAL_DYNAMODB_REGION } from './dynamodb-client';
