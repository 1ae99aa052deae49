import * as path from 'node:path';
import { AssetHashType, BundlingOutput, DockerImage } from 'aws-cdk-lib/core';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { bundleCli } from '../bundles';
import { REPO_ROOT } from '../paths';

/** File name of the bundled `gateway` command inside the asset. */
export const AGENT_BUNDLE_FILE = 'gateway.js';

/**
 * The `gateway` command (agent included) bundled by the local esbuild into an S3 asset that the
 * fleet instances download at boot. Never Docker: the image below is only a required placeholder.
 * The asset's hash is the bundle's (OUTPUT), not src/'s: a dependency upgrade that changes what is
 * bundled changes the object key, so the launch templates change and the fleets roll.
 */
export class AgentAsset extends Construct {
  readonly asset: Asset;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.asset = new Asset(this, 'Bundle', {
      path: path.join(REPO_ROOT, 'src'),
      exclude: ['**/*.test.ts', '**/README.md'],
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        outputType: BundlingOutput.SINGLE_FILE,
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
        local: {
          tryBundle(outputDir: string): boolean {
            bundleCli(path.join(outputDir, AGENT_BUNDLE_FILE));
            return true;
          },
        },
      },
    });
  }

  /** ARN of the one S3 object the instances may read (`s3:GetObject`). */
  get objectArn(): string {
    return this.asset.bucket.arnForObjects(this.asset.s3ObjectKey);
  }
}
