import { Annotations, Duration, Validations } from 'aws-cdk-lib/core';
import { type IVpc, Peer, Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Certificate, CertificateValidation } from 'aws-cdk-lib/aws-certificatemanager';
import {
  ListenerCertificate,
  type NetworkListener,
  NetworkLoadBalancer,
  NetworkTargetGroup,
  Protocol,
  SslPolicy,
  TargetType,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { ARecord, type IHostedZone, RecordTarget } from 'aws-cdk-lib/aws-route53';
import { LoadBalancerTarget } from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { type GatewayConfig, WATCH_PORT, watchName } from '../config';
import { acknowledgeGuardRule } from '../guard';
import type { AgentAsset } from './agent-asset';
import { SERVER_PORT } from './gateway-server';
import { NodeFleet } from './node-fleet';

export interface ProxyFleetProps {
  /** The gateway configuration (name, domain, `proxies.min`, `max`, `instanceType`, `tlsSecretArn`). */
  readonly config: GatewayConfig;
  /** The VPC: proxies in its private subnets, the load balancer in its public ones. */
  readonly vpc: IVpc;
  /** The zone that gets the `*.<domain>` alias to the load balancer. */
  readonly zone: IHostedZone;
  /** The agent bundle the instances download at boot. */
  readonly agent: AgentAsset;
  /** The API Gateway URL the agent registers through. */
  readonly apiUrl: string;
  /** The in-VPC gateway server the agent uses after registering. */
  readonly agentApiUrl: string;
  /** execute-api ARN of `POST /v1/nodes/register`. */
  readonly registerRouteArn: string;
}

/**
 * The proxies: private instances behind an internet-facing NLB that passes TCP 443 through (TLS
 * ends at `gateway proxy`), `*.<domain>` aliased to it. Security groups: HTTPS from anywhere to
 * the NLB, and from the NLB only to the proxies.
 *
 * The same NLB carries the agents' config watches (no second load balancer): a TLS listener on
 * 8443 with an ACM certificate for `watch.<domain>` (DNS-validated in the zone), TLS 1.2+, forwarding
 * to `watchTargetGroup` (IP targets on the server's port, `GET /healthz`). The server stack registers
 * its tasks there and adds the NLB → task rules: this stack knows nothing of the server.
 */
export class ProxyFleet extends Construct {
  readonly fleet: NodeFleet;
  readonly loadBalancer: NetworkLoadBalancer;
  readonly listener: NetworkListener;
  readonly targetGroup: NetworkTargetGroup;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly securityGroup: SecurityGroup;
  readonly wildcardRecord: ARecord;
  readonly watchCertificate: Certificate;
  readonly watchListener: NetworkListener;
  readonly watchTargetGroup: NetworkTargetGroup;
  readonly watchRecord: ARecord;

  constructor(scope: Construct, id: string, props: ProxyFleetProps) {
    super(scope, id);
    const { config, vpc } = props;

    const nlbSg = new SecurityGroup(this, 'LoadBalancerSecurityGroup', { vpc, description: 'proxy NLB: HTTPS and watches from anywhere', allowAllOutbound: false });
    nlbSg.addIngressRule(Peer.anyIpv4(), Port.tcp(443), 'HTTPS from browsers');
    nlbSg.addIngressRule(Peer.anyIpv4(), Port.tcp(WATCH_PORT), 'config watches from environments (TLS)');
    Validations.of(nlbSg).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'The proxies serve public HTTPS URLs (TCP 443) and environments anywhere watch their config (TLS on 8443); nothing else is open.',
    });
    acknowledgeGuardRule(
      nlbSg,
      'vpc_sg_open_only_to_authorized_ports_check',
      'Environments anywhere on the internet watch their config at watch.<domain>:8443 (TLS, host credential required); 443 is the proxies.',
    );
    const proxySg = new SecurityGroup(this, 'SecurityGroup', { vpc, description: 'proxies: TCP 443 from the NLB only', allowAllOutbound: true });
    proxySg.addIngressRule(nlbSg, Port.tcp(443), 'HTTPS passed through by the NLB');
    nlbSg.addEgressRule(proxySg, Port.tcp(443), 'to the proxies');
    this.loadBalancerSecurityGroup = nlbSg;
    this.securityGroup = proxySg;

    // `Default`: the fleet keeps the logical IDs it had at the stack's top level (its role has a fixed name).
    this.fleet = new NodeFleet(this, 'Default', {
      config,
      role: 'proxy',
      vpc,
      subnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      securityGroup: proxySg,
      instanceType: config.proxies.instanceType,
      minCapacity: config.proxies.min,
      maxCapacity: config.proxies.max,
      publicIp: false,
      apiUrl: props.apiUrl,
      agentApiUrl: props.agentApiUrl,
      registerRouteArn: props.registerRouteArn,
      agent: props.agent,
      proxy: config.proxies.tlsSecretArn ? { domain: config.domain, tlsSecretArn: config.proxies.tlsSecretArn } : undefined,
      // Without `gateway proxy` the NLB's checks always fail: replacing instances for it would loop.
      elbHealthChecks: config.proxies.tlsSecretArn !== undefined,
    });
    if (!config.proxies.tlsSecretArn) {
      Annotations.of(this).addWarningV2(
        'nebula-gateway:no-proxy-certificate',
        'gateway.proxies.tlsSecretArn is not set: the proxies join the mesh but run no `gateway proxy`, so https://*.' +
          `${config.domain} is not served and the NLB health checks fail. Set it to a Secrets Manager secret holding ` +
          '{"certificate": "<PEM chain for *.<domain>>", "privateKey": "<PEM key>"}.',
      );
    }

    this.loadBalancer = new NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      securityGroups: [nlbSg],
      crossZoneEnabled: true,
    });
    this.listener = this.loadBalancer.addListener('Https', { port: 443, protocol: Protocol.TCP });
    this.targetGroup = this.listener.addTargets('Proxies', {
      port: 443,
      protocol: Protocol.TCP,
      targets: [this.fleet.group],
      // The proxies' per-address limits (working connections, new-connection rate) need the
      // client's own address; with it off every visitor would share the NLB's few.
      preserveClientIp: true,
      // An HTTPS request proves TLS ends and `gateway proxy` answers; it has no route for the
      // target's address, so a live proxy answers 4xx (its own page), never 5xx.
      healthCheck: {
        protocol: Protocol.HTTPS,
        path: '/',
        healthyHttpCodes: '200-499',
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      deregistrationDelay: Duration.seconds(30),
    });
    const noAccessLogs =
      'NLB access logs cover TLS listeners only: the 443 listener passes TCP through (TLS ends at the proxies), and the watch listener carries ' +
      'authenticated long-polls the server answers itself; a log bucket for one connection line per watch is not worth it.';
    Validations.of(this.loadBalancer).acknowledge({ id: 'AwsSolutions-ELB2', reason: noAccessLogs });
    acknowledgeGuardRule(this.loadBalancer, 'elbv2_logging_enabled_check', noAccessLogs);
    acknowledgeGuardRule(
      this.loadBalancer,
      'elbv2_deletion_protection_enabled_check',
      'The fleets stack is stateless and may be destroyed and redeployed; the *.<domain> alias follows the new load balancer.',
    );
    this.wildcardRecord = new ARecord(this, 'WildcardRecord', {
      zone: props.zone,
      recordName: `*.${config.domain}`,
      target: RecordTarget.fromAlias(new LoadBalancerTarget(this.loadBalancer)),
    });

    // Watches: TLS ends at the NLB (ACM certificate), plain HTTP inside the VPC to the tasks.
    const watchHost = watchName(config);
    this.watchCertificate = new Certificate(this, 'WatchCertificate', {
      domainName: watchHost,
      validation: CertificateValidation.fromDns(props.zone),
    });
    this.watchTargetGroup = new NetworkTargetGroup(this, 'WatchTargets', {
      vpc,
      port: SERVER_PORT,
      protocol: Protocol.TCP,
      targetType: TargetType.IP,
      healthCheck: {
        protocol: Protocol.HTTP,
        path: '/healthz',
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      // A watch is a long-poll of at most 60 s: a draining task's agents reconnect to another one.
      deregistrationDelay: Duration.seconds(30),
    });
    this.watchListener = this.loadBalancer.addListener('Watch', {
      port: WATCH_PORT,
      protocol: Protocol.TLS,
      certificates: [ListenerCertificate.fromCertificateManager(this.watchCertificate)],
      sslPolicy: SslPolicy.RECOMMENDED_TLS,
      defaultTargetGroups: [this.watchTargetGroup],
    });
    this.watchRecord = new ARecord(this, 'WatchRecord', {
      zone: props.zone,
      recordName: watchHost,
      target: RecordTarget.fromAlias(new LoadBalancerTarget(this.loadBalancer)),
    });
  }
}
