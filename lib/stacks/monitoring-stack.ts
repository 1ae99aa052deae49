import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib/core';
import { Alarm, AlarmStatusWidget, AlarmWidget, Dashboard, type IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { GatewayConfig } from '../config';
import { alarmTopicName } from '../constructs/gateway-alarms';

export interface MonitoringStackProps extends StackProps {
  readonly config: GatewayConfig;
}

/**
 * The alarm topic (fixed name, `alarms.email` subscribed when set) that every stack's alarms
 * notify, and one dashboard of all the alarms. Deployed first (the others depend on it) so the
 * topic exists before any alarm names it; the dashboard names the alarms, which are the other
 * stacks', by their fixed names.
 */
export class MonitoringStack extends Stack {
  readonly topic: Topic;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.topic = new Topic(this, 'AlarmTopic', { topicName: alarmTopicName(config), displayName: `Nebula gateway ${config.name} alarms`, enforceSSL: true });
    if (config.alarms.email) this.topic.addSubscription(new EmailSubscription(config.alarms.email));
    new CfnOutput(this, 'AlarmTopicArn', { value: this.topic.topicArn, description: 'Subscribe to get the alarms (e-mail, chat, paging)' });
  }

  /** The dashboard: every alarm's state, then each alarm's graph. Call once, with all stacks' alarms. */
  addDashboard(alarmNames: readonly string[]): Dashboard {
    const byName: IAlarm[] = alarmNames.map((name, i) => Alarm.fromAlarmName(this, `Alarm${i}`, name));
    // Dashboard names are global to the account (alarm and topic names are regional): the region keeps two deployments apart.
    const dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `${this.stackName}-${this.region}` });
    dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: byName, width: 24, height: Math.max(3, Math.ceil(byName.length / 4) + 2) }));
    dashboard.addWidgets(...byName.map((alarm, i) => new AlarmWidget({ title: alarmNames[i], alarm, width: 8, height: 6 })));
    return dashboard;
  }
}
