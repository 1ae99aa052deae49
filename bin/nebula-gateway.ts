#!/usr/bin/env node
import * as cdk from 'aws-cdk-lib/core';
import { buildGateway } from '../lib/app';

buildGateway(new cdk.App());
