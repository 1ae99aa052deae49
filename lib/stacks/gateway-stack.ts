import * as cdk from 'aws-cdk-lib/core';
import { Construct } from 'constructs';

/** The gateway's resources; constructs are added here as they are built. */
export class GatewayStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props?: cdk.StackProps) {
    super(scope, id, props);
  }
}
