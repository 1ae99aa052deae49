import * as path from 'node:path';
import { BundlingOutput, DockerImage } from 'aws-cdk-lib/core';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { bundleCli } from '../bundles';
import { REPO_ROOT } from '../paths';

/** File name of the bundled `gateway` command inside the asset. */
export const AGENT_BUNDLE_FILE = 'gateway.js';

/**
 * The `gateway` command (agent included) bundled by the local esbuild into an S3 asset that the
 * fleet instances download at boot. Never Docker: the image below is only a required placeholder.
 */
export class AgentAsset extends Construct {
  readonly asset: Asset;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.asset = new Asset(this, 'Bundle', {
      path: path.join(REPO_ROOT, 'src'),
      exclude: ['**/*.test.ts', '**/README.md'],
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
}
