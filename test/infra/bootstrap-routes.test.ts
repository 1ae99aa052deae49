import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildGateway } from '../../lib/app';
import { gatewayVersion } from '../../lib/bundles';
import { AGENT_BUNDLE_FILE, describeAgentBundle } from '../../src/bootstrap/agent-bundle';
import { cdkJsonContext, MINIMAL_CONFIG } from './support/app';

/** Lambda's synchronous response payload limit: the agent bundle is one response of the public function. */
const LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024;

/**
 * In AWS the bootstrap routes go through API Gateway to the public function, open (no IAM), with
 * the agent bundle in that function's asset (bundled for real here, for the Api stack only) and
 * the stage URL it pins in the script.
 */
describe('bootstrap routes in the Api stack', () => {
  let template: Template;
  let assetDirs: Record<string, string>;

  beforeAll(() => {
    const app = new App({ context: { ...cdkJsonContext(), gateway: MINIMAL_CONFIG, 'aws:cdk:bundling-stacks': ['NebulaGateway-Api'], 'aws:cdk:enable-asset-metadata': true } });
    buildGateway(app);
    const assembly = app.synth();
    const stack = assembly.getStackByName('NebulaGateway-Api');
    template = Template.fromJSON(stack.template);
    // The API's functions (not CDK's own custom-resource handlers, which have no description).
    const functions = template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.anyValue() } });
    assetDirs = Object.fromEntries(
      Object.values(functions).map((fn) => [String(fn.Properties.Description), join(assembly.directory, String(fn.Metadata['aws:asset:path']))]),
    );
  }, 180_000);

  const publicDescription = 'GET /healthz, GET /v1/network, GET /v1/bootstrap and GET /v1/agent/{file}';

  it('routes GET /v1/bootstrap and GET /v1/agent/{file} to the public function without IAM', () => {
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const idOf = (part: string) => Object.entries(resources).find(([, r]) => r.Properties.PathPart === part)![0];
    const publicFn = Object.entries(template.findResources('AWS::Lambda::Function')).find(([, fn]) => fn.Properties.Description === publicDescription)![0];
    for (const resource of [idOf('bootstrap'), idOf('{file}')]) {
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'GET',
        AuthorizationType: 'NONE',
        ResourceId: { Ref: resource },
        Integration: Match.objectLike({ Uri: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([{ 'Fn::GetAtt': [publicFn, 'Arn'] }])]) }) }),
      });
    }
    expect(resources[idOf('{file}')].Properties.ParentId).toEqual({ Ref: idOf('agent') });
  });

  it('leaves them open in the resource policy (outside the admins-only deny)', () => {
    const policy = JSON.stringify(template.findResources('AWS::ApiGateway::RestApi'));
    expect(policy).toContain('api/GET/v1/bootstrap');
    expect(policy).toContain('api/GET/v1/agent/*');
  });

  it("tells the public function the stage URL to pin (from the API's id: no dependency cycle)", () => {
    const [restApi] = Object.keys(template.findResources('AWS::ApiGateway::RestApi'));
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: publicDescription,
      Environment: {
        Variables: Match.objectLike({
          GATEWAY_API_URL: { 'Fn::Join': ['', ['https://', { Ref: restApi }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/api']] },
        }),
      },
    });
  });

  it("carries the agent bundle beside the public function's code, far below Lambda's response limit; no other function does", () => {
    const bundlePath = join(assetDirs[publicDescription], AGENT_BUNDLE_FILE);
    const bundle = describeAgentBundle(readFileSync(bundlePath));
    expect(bundle.version).toBe(gatewayVersion());
    expect(statSync(bundlePath).size).toBeLessThan(LAMBDA_RESPONSE_LIMIT_BYTES / 10);
    const others = Object.entries(assetDirs).filter(([description]) => description !== publicDescription);
    expect(others.length).toBeGreaterThanOrEqual(4);
    for (const [description, dir] of others) expect([description, existsSync(join(dir, AGENT_BUNDLE_FILE))]).toEqual([description, false]);
  });
});
