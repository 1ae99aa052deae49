import { lossesNotAtAHandover, type PingGap, silences } from './harness/continuous-ping';

/** The rule the rotation tests hold lost pings to, as a table: only a brief silence (≤ 1 s) at a handover is excused. */
describe('lossesNotAtAHandover', () => {
  const gap = (seq: number, after: number, before: number): PingGap => ({ seq, after, before });
  it.each<[string, PingGap[], number[], number[]]>([
    ['no loss', [], [10_000], []],
    ['a lone loss at a handover', [gap(5, 10_000, 10_400)], [10_200], []],
    ['a lone loss within the slack after a handover', [gap(5, 10_000, 10_400)], [14_900], []],
    ['a lone loss with no handover near', [gap(5, 10_000, 10_400)], [30_000], [5]],
    ['a lone loss and no handover at all', [gap(5, 10_000, 10_400)], [], [5]],
    ['three consecutive losses at a handover, silent 0.8 s (one handshake retried)', [gap(5, 10_000, 10_800), gap(6, 10_000, 10_800), gap(7, 10_000, 10_800)], [10_200], []],
    ['losses at a handover silent over 1 s (a restart, a broken handover)', [gap(5, 10_000, 11_200), gap(6, 10_000, 11_200), gap(7, 10_000, 11_200), gap(8, 10_000, 11_200), gap(9, 10_000, 11_200)], [10_200], [5, 6, 7, 8, 9]],
    ['a loss at the start, before any answer', [gap(1, -Infinity, 10_000)], [9_000], [1]],
    ['two lone losses, one at a handover', [gap(5, 10_000, 10_400), gap(50, 40_000, 40_400)], [10_200], [50]],
  ])('%s', (_name, gaps, handovers, unexplained) => {
    expect(lossesNotAtAHandover(gaps, handovers).map((g) => g.seq)).toEqual(unexplained);
  });
});

describe('silences', () => {
  it('counts each run of losses once', () => {
    const gap = (seq: number, after: number, before: number): PingGap => ({ seq, after, before });
    expect(silences([])).toBe(0);
    expect(silences([gap(5, 10_000, 10_800), gap(6, 10_000, 10_800), gap(9, 11_000, 11_400)])).toBe(2);
  });
});

