import { lossesNotAtAHandover, type PingGap } from './harness/continuous-ping';

/** The rule the rotation tests hold lost pings to, as a table: only a lone loss at a handover is excused. */
describe('lossesNotAtAHandover', () => {
  const gap = (seq: number, after: number, before: number): PingGap => ({ seq, after, before });
  it.each<[string, PingGap[], number[], number[]]>([
    ['no loss', [], [10_000], []],
    ['a lone loss at a handover', [gap(5, 10_000, 10_400)], [10_200], []],
    ['a lone loss within the slack after a handover', [gap(5, 10_000, 10_400)], [14_900], []],
    ['a lone loss with no handover near', [gap(5, 10_000, 10_400)], [30_000], [5]],
    ['a lone loss and no handover at all', [gap(5, 10_000, 10_400)], [], [5]],
    ['two consecutive losses at a handover (a restart, a broken handover)', [gap(5, 10_000, 10_600), gap(6, 10_000, 10_600)], [10_200], [5, 6]],
    ['a loss at the start, before any answer', [gap(1, -Infinity, 10_000)], [9_000], [1]],
    ['two lone losses, one at a handover', [gap(5, 10_000, 10_400), gap(50, 40_000, 40_400)], [10_200], [50]],
  ])('%s', (_name, gaps, handovers, unexplained) => {
    expect(lossesNotAtAHandover(gaps, handovers).map((g) => g.seq)).toEqual(unexplained);
  });
});
