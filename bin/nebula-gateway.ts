#!/usr/bin/env node
import * as cdk from 'aws-cdk-lib/core';
import { GatewayStack } from '../lib/stacks/gateway-stack';

const app = new cdk.App();
new GatewayStack(app, 'NebulaGateway');
