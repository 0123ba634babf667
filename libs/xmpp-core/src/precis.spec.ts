import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bidiRuleHolds, classify, classProblem, hasRtl } from './precis';

describe('PRECIS derived property (RFC 8264 §8)', () => {
  const cases: Array<[string, string, ReturnType<typeof classify>]> = [
    ['a', 'ASCII7', 'PVALID'],
    ['~', 'ASCII7', 'PVALID'],
    ['\u00df', 'an exception (sharp s)', 'PVALID'],
    ['\u0640', 'an exception (tatweel)', 'DISALLOWED'],
    ['\u00b7', 'an exception (middle dot)', 'CONTEXTO'],
    ['\u0378', 'unassigned', 'DISALLOWED'],
    ['\u200d', 'a join control', 'CONTEXTJ'],
    ['\u1100', 'old Hangul jamo', 'DISALLOWED'],
    ['\u200b', 'default ignorable', 'DISALLOWED'],
    ['\ufdd0', 'a noncharacter', 'DISALLOWED'],
    ['\u0085', 'a control', 'DISALLOWED'],
    ['\u2163', 'compatibility (roman numeral)', 'FREE'],
    ['\uff41', 'compatibility (fullwidth a)', 'FREE'],
    ['\u00e9', 'a letter', 'PVALID'],
    ['\u0663', 'an exception (Arabic-Indic digit)', 'CONTEXTO'],
    ['\u0301', 'a combining mark', 'PVALID'],
    ['\u00a0', 'a space (compatibility)', 'FREE'],
    ['\u3000', 'a space (compatibility)', 'FREE'],
    ['\u2603', 'a symbol', 'FREE'],
    ['\u00bf', 'punctuation', 'FREE'],
    ['\u2028', 'a line separator', 'DISALLOWED'],
    ['\ue000', 'private use', 'DISALLOWED'],
  ];
  for (const [ch, what, expected] of cases) {
    it(`U+${ch.codePointAt(0)!.toString(16).padStart(4, '0')} (${what}) is ${expected}`, () => {
      assert.equal(classify(ch), expected);
    });
  }

  it('names the code point a string fails on, and lets the FreeformClass hold what the IdentifierClass does not', () => {
    assert.equal(classProblem('ab\u2603', 'identifier'), 'U+2603 is not allowed here');
    assert.equal(classProblem('ab\u2603', 'freeform'), null);
    assert.equal(classProblem('ab\u200b', 'freeform'), 'U+200B is not allowed here');
    assert.equal(classProblem('\u0915\u094d\u200c', 'identifier'), null, 'ZWNJ after a virama');
  });
});

describe('Bidi Rule (RFC 5893 §2)', () => {
  it('sees right-to-left strings', () => {
    assert.equal(hasRtl('abc'), false);
    assert.equal(hasRtl('\u05d0'), true);
    assert.equal(hasRtl('\u0661'), true, 'an Arabic-Indic digit is AN');
  });

  it('holds for one-direction strings and fails for mixed ones', () => {
    assert.equal(bidiRuleHolds('\u05d0\u05d1'), true);
    assert.equal(bidiRuleHolds('\u05d0\u05b0'), true, 'a trailing nonspacing mark');
    assert.equal(bidiRuleHolds('\u05d0-'), false, 'ends in ES');
    assert.equal(bidiRuleHolds('\u05d0a'), false);
    assert.equal(bidiRuleHolds('a\u05d0'), false);
    assert.equal(bidiRuleHolds('-\u05d0'), false, 'starts with neither L nor R');
    assert.equal(bidiRuleHolds('ab-1'), true);
  });
});
